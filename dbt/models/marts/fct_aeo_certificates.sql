{#-
    AEO certificates (approved applications of the latest register snapshot)
    with their validity interval, one row per certificate: published so that
    the evidence of the active-operator KPIs (marts.kpi_evidence_aeo_uptake)
    can list the operators. trader_id is pseudonymised by the publisher.
-#}

select
    application_id,
    trader_id,
    valid_from,
    valid_to,
    revoked_at,
    valid_until,
    decided_at,
    snapshot_month
from {{ ref('int_aeo_certificates') }}
