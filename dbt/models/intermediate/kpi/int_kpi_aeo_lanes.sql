{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Selectivity lanes for AEO trade": AEO declarations lodged in
    the month by their final lane (the lane row assigned last). A declaration
    without a lane row counts in no lane. The counts read the declarations and
    lanes feeds: null for a month in which either has no delivery.
-#}
{%- set kpi_ids = [
    'aeo_green_lane',
    'aeo_yellow_lane',
    'aeo_red_lane',
] -%}

with months as (

    {{ kpi_months(['declarations', 'lanes']) }}

),

declarations as (

    select
        month,
        is_aeo,
        final_lane
    from {{ ref('fct_declarations') }}
    where {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- aeo_green_lane: AEO declarations whose final lane is GREEN
        {{ kpi_count('aeo_green_lane', "d.is_aeo and d.final_lane = 'GREEN'", '(months.declarations_delivered and months.lanes_delivered)') }},
        -- aeo_yellow_lane: AEO declarations whose final lane is YELLOW
        {{ kpi_count('aeo_yellow_lane', "d.is_aeo and d.final_lane = 'YELLOW'", '(months.declarations_delivered and months.lanes_delivered)') }},
        -- aeo_red_lane: AEO declarations whose final lane is RED
        {{ kpi_count('aeo_red_lane', "d.is_aeo and d.final_lane = 'RED'", '(months.declarations_delivered and months.lanes_delivered)') }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month, months.declarations_delivered, months.lanes_delivered

)

{{ kpi_unpivot('monthly', kpi_ids) }}
