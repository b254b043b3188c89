{#-
    Drawback claims, one row per claim, as the KPIs read them (int_drawback_claims):
    published so that the evidence of the drawback KPIs (marts.kpi_evidence_drawback)
    can list them. trader_id is pseudonymised by the publisher.
-#}

select
    claim_id,
    trader_id,
    declaration_id,
    status,
    lodged_at,
    decided_at,
    lodged_date_local,
    lodged_month,
    is_aeo,
    is_decided,
    days_to_decision,
    amount_claimed,
    amount_approved
from {{ ref('int_drawback_claims') }}
