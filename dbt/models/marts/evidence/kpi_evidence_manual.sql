{{ config(materialized='view') }}
{#-
    Evidence of the KPI group "manual KPIs": the rows of the manual feed behind each month's
    value, one row per record and KPI, from the same macro (kpi_records_manual) that
    the KPI model aggregates. Only the published months (those of
    marts.kpi_monthly). A view over the published tables, named without
    a catalog so that it binds in whichever file it is read from.
-#}

select records.*
from (
    {{ kpi_records_manual(
        ref('fct_manual_values').include(database=False),
        ref('mart_kpi_catalog').include(database=False)
    ) }}
) as records
-- the published KPI values only: their months (the feeds also hold records of other months,
-- e.g. register history), not a value the quality gate withheld
where {{ evidence_published('records') }}
