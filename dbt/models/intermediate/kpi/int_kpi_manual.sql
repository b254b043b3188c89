{#-
    Manual KPIs (catalog source = manual, in whichever group): the value
    people delivered in the manual feed for the month, null for a month
    without one. n is null: there are no records behind a manual value other
    than the manual row itself (macro kpi_records_manual, also behind
    marts.kpi_evidence_manual). Driven by the catalog, so a manual KPI added
    to the seed needs no code.
-#}

with months as (

    select month from {{ ref('int_months') }}

),

manual_kpis as (

    select kpi_id
    from {{ ref('kpi_catalog') }}
    where source = 'manual'

),

records as (

    {{ kpi_records_manual(ref('stg_manual'), ref('kpi_catalog')) }}

)

select
    cast(manual_kpis.kpi_id as {{ dbt.type_string() }}) as kpi_id,
    months.month,
    cast(records.measure as {{ type_double() }}) as value,
    cast(null as {{ dbt.type_bigint() }}) as n
from manual_kpis
cross join months
left join records
    on records.kpi_id = manual_kpis.kpi_id
    and records.month = months.month
