{#-
    AEO applications of the latest register snapshot (which restates the whole
    history), one row per application: published so that the evidence of the
    uptake KPIs (marts.kpi_evidence_aeo_uptake) can list them. trader_id is
    pseudonymised by the publisher.
-#}

select
    application_id,
    trader_id,
    decision,
    submitted_at,
    decided_at,
    valid_from,
    valid_to,
    revoked_at,
    snapshot_month
from {{ ref('int_aeo_register_latest') }}
