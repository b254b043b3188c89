{{ config(alias='kpi_catalog') }}

{#- The KPI catalog (seed kpi_catalog) published in the marts schema. -#}

select
    kpi_id,
    kpi_group,
    indicator,
    intent,
    definition,
    unit,
    direction,
    basis,
    source,
    department,
    frequency
from {{ ref('kpi_catalog') }}
