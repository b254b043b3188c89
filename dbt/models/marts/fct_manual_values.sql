{#-
    Values of the manual KPIs as delivered in the manual feed, one row per
    delivered row with its file and line: published so that the evidence of
    a manual KPI (marts.kpi_evidence_manual) points to the row it comes from.
-#}

select
    month,
    kpi_id,
    value,
    note,
    source_file,
    source_line
from {{ ref('stg_manual') }}
