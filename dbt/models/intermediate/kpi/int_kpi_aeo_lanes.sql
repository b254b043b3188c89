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

    select
        months.month,
        declarations_delivery.month is not null and lanes_delivery.month is not null as feeds_delivered
    from {{ ref('int_months') }} as months
    left join {{ ref('int_feed_deliveries') }} as declarations_delivery
        on declarations_delivery.month = months.month
        and declarations_delivery.feed = 'declarations'
    left join {{ ref('int_feed_deliveries') }} as lanes_delivery
        on lanes_delivery.month = months.month
        and lanes_delivery.feed = 'lanes'
    where {{ kpi_window_filter('months.month') }}

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
        {{ kpi_count('aeo_green_lane', "d.is_aeo and d.final_lane = 'GREEN'", 'months.feeds_delivered') }},
        -- aeo_yellow_lane: AEO declarations whose final lane is YELLOW
        {{ kpi_count('aeo_yellow_lane', "d.is_aeo and d.final_lane = 'YELLOW'", 'months.feeds_delivered') }},
        -- aeo_red_lane: AEO declarations whose final lane is RED
        {{ kpi_count('aeo_red_lane', "d.is_aeo and d.final_lane = 'RED'", 'months.feeds_delivered') }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month, months.feeds_delivered

)

{{ kpi_unpivot('monthly', kpi_ids) }}
