{#-
    Service desk tickets (service requests and failures), one row per ticket
    row of the tickets feed: published so that the evidence of the Single
    Window service levels (marts.kpi_evidence_sla) can list them.
-#}

select
    ticket_id,
    ticket_type,
    affected_system,
    opened_at,
    due_at,
    resolved_at,
    opened_month,
    due_month
from {{ ref('stg_tickets') }}
