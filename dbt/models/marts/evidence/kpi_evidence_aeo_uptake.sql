{{ config(materialized='view') }}
{#-
    Evidence of the KPI group "AEO programme uptake (computed KPIs)": the applications and operators behind each month's
    value, one row per record and KPI, from the same macro (kpi_records_aeo_uptake) that
    the KPI model aggregates. Only the published months (those of
    marts.kpi_monthly). A view over the published tables, named without
    a catalog so that it binds in whichever file it is read from.
-#}
{%- set months = '(select distinct month from ' ~ ref('kpi_monthly').include(database=False) ~ ')' -%}

select records.*
from (
    {{ kpi_records_aeo_uptake(
        ref('fct_aeo_applications').include(database=False),
        ref('fct_aeo_certificates').include(database=False),
        months
    ) }}
) as records
-- the published KPI values only: their months (the feeds also hold records of other months,
-- e.g. register history), not a value the quality gate withheld
where {{ evidence_published('records') }}
