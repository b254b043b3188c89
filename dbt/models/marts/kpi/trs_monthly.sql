{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=month_partition('month'),
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month', keep_withheld='declarations') }}"
    )
}}
{#-
    Time Release Study breakdown: one row per month (of lodgement) x
    declaration_type x transport_mode x is_aeo x final lane (null where the
    declaration has no lane row), with the distribution of the three
    intervals in elapsed hours. Intervals are signed; each statistic is over
    the declarations where both ends of its interval are known.
-#}

with declarations as (

    select
        month,
        declaration_type,
        transport_mode,
        is_aeo,
        final_lane,
        released_at,
        hours_lodged_to_release,
        hours_arrival_to_lodged,
        hours_arrival_to_release
    from {{ ref('fct_declarations') }}
    where
        {{ kpi_window_filter('month') }}
        -- a month whose declarations the quality gate withholds keeps its rows
        and not {{ withheld_month('month', 'declarations') }}

),

aggregated as (

    select
        month,
        declaration_type,
        transport_mode,
        is_aeo,
        final_lane,
        count(*) as declarations,
        count(released_at) as released_declarations,
        avg(hours_lodged_to_release) as mean_hours_lodged_to_release,
        {{ percentile_cont('hours_lodged_to_release', 0.5) }} as median_hours_lodged_to_release,
        {{ percentile_cont('hours_lodged_to_release', 0.9) }} as p90_hours_lodged_to_release,
        avg(hours_arrival_to_lodged) as mean_hours_arrival_to_lodged,
        {{ percentile_cont('hours_arrival_to_lodged', 0.5) }} as median_hours_arrival_to_lodged,
        {{ percentile_cont('hours_arrival_to_lodged', 0.9) }} as p90_hours_arrival_to_lodged,
        avg(hours_arrival_to_release) as mean_hours_arrival_to_release,
        {{ percentile_cont('hours_arrival_to_release', 0.5) }} as median_hours_arrival_to_release,
        {{ percentile_cont('hours_arrival_to_release', 0.9) }} as p90_hours_arrival_to_release,
        -- 100 x released at most 24 h after lodgement / all declarations of the cell
        {{ hundred() }} * count(case when hours_lodged_to_release <= 24 then 1 end)
        / count(*) as released_within_24h_share
    from declarations
    group by month, declaration_type, transport_mode, is_aeo, final_lane

)

select
    cast(month as date) as month,
    cast(declaration_type as {{ dbt.type_string() }}) as declaration_type,
    cast(transport_mode as {{ dbt.type_string() }}) as transport_mode,
    is_aeo,
    cast(final_lane as {{ dbt.type_string() }}) as final_lane,
    cast(declarations as {{ dbt.type_bigint() }}) as declarations,
    cast(released_declarations as {{ dbt.type_bigint() }}) as released_declarations,
    cast(mean_hours_lodged_to_release as {{ type_double() }}) as mean_hours_lodged_to_release,
    cast(median_hours_lodged_to_release as {{ type_double() }}) as median_hours_lodged_to_release,
    cast(p90_hours_lodged_to_release as {{ type_double() }}) as p90_hours_lodged_to_release,
    cast(mean_hours_arrival_to_lodged as {{ type_double() }}) as mean_hours_arrival_to_lodged,
    cast(median_hours_arrival_to_lodged as {{ type_double() }}) as median_hours_arrival_to_lodged,
    cast(p90_hours_arrival_to_lodged as {{ type_double() }}) as p90_hours_arrival_to_lodged,
    cast(mean_hours_arrival_to_release as {{ type_double() }}) as mean_hours_arrival_to_release,
    cast(median_hours_arrival_to_release as {{ type_double() }}) as median_hours_arrival_to_release,
    cast(p90_hours_arrival_to_release as {{ type_double() }}) as p90_hours_arrival_to_release,
    cast(released_within_24h_share as {{ type_double() }}) as released_within_24h_share
from aggregated
