{#-
    The scorecard holds exactly one row per catalog KPI and month of
    int_months: returns the (kpi_id, month) pairs that are missing, and the
    rows whose KPI or month is outside the catalog or the month range.
-#}

with expected as (

    select catalog.kpi_id, months.month
    from {{ ref('kpi_catalog') }} as catalog
    cross join {{ ref('int_months') }} as months

),

actual as (

    select kpi_id, month from {{ ref('kpi_monthly') }}

),

missing as (

    select expected.kpi_id, expected.month, 'missing' as problem
    from expected
    left join actual
        on actual.kpi_id = expected.kpi_id
        and actual.month = expected.month
    where actual.kpi_id is null

),

unexpected as (

    select actual.kpi_id, actual.month, 'unexpected' as problem
    from actual
    left join expected
        on expected.kpi_id = actual.kpi_id
        and expected.month = actual.month
    where expected.kpi_id is null

)

select * from missing
union all
select * from unexpected
