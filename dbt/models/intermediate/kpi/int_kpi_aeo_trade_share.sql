{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "AEO involvement in trade": the share of the month's trade value
    (customs value of IM and EX declarations lodged in the month) declared by
    AEOs, per partner region and in total. n = trade declarations.
-#}
{%- set kpi_ids = [
    'aeo_trade_share_central_asia',
    'aeo_trade_share_eu_us',
    'aeo_trade_share_east_asia',
    'aeo_trade_share_other',
    'aeo_trade_share_total',
] -%}

with months as (

    {{ kpi_months() }}

),

declarations as (

    select
        month,
        is_trade,
        is_aeo,
        coalesce(region, 'other') as region,
        customs_value
    from {{ ref('fct_declarations') }}
    where {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- aeo_trade_share_central_asia: 100 x AEO trade value with a Central Asian partner / all trade value
        {{ kpi_share('aeo_trade_share_central_asia', "d.is_aeo and d.region = 'central_asia'", 'd.is_trade', weight='d.customs_value') }},
        -- aeo_trade_share_eu_us: the same for EU member states and the US
        {{ kpi_share('aeo_trade_share_eu_us', "d.is_aeo and d.region = 'eu_us'", 'd.is_trade', weight='d.customs_value') }},
        -- aeo_trade_share_east_asia: the same for East Asia
        {{ kpi_share('aeo_trade_share_east_asia', "d.is_aeo and d.region = 'east_asia'", 'd.is_trade', weight='d.customs_value') }},
        -- aeo_trade_share_other: the same for every other partner country
        {{ kpi_share('aeo_trade_share_other', "d.is_aeo and d.region = 'other'", 'd.is_trade', weight='d.customs_value') }},
        -- aeo_trade_share_total: 100 x AEO trade value / all trade value (the sum of the four above)
        {{ kpi_share('aeo_trade_share_total', 'd.is_aeo', 'd.is_trade', weight='d.customs_value') }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month

)

{{ kpi_unpivot('monthly', kpi_ids) }}
