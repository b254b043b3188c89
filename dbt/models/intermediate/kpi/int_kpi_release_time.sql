{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Time to clear goods (AEO trade)": release times of the
    declarations lodged in the month, in elapsed hours (signed intervals from
    fct_declarations), and the shares released quickly or before arrival.
-#}
{%- set kpi_ids = [
    'time_to_import_aeo',
    'time_to_export_aeo',
    'time_to_transit_aeo',
    'time_to_import_non_aeo',
    'released_within_24h_share',
    'pre_arrival_release_share',
    'release_time_arrival_to_release',
] -%}

with months as (

    {{ kpi_months() }}

),

declarations as (

    select
        month,
        declaration_id,
        declaration_type,
        is_aeo,
        arrival_at,
        released_at,
        hours_lodged_to_release,
        hours_arrival_to_release
    from {{ ref('fct_declarations') }}
    where {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- time_to_import_aeo: mean hours lodged -> released, IM by AEOs, released
        {{ kpi_mean('time_to_import_aeo', 'd.hours_lodged_to_release',
            "d.declaration_type = 'IM' and d.is_aeo and d.released_at is not null") }},
        -- time_to_export_aeo: the same for EX
        {{ kpi_mean('time_to_export_aeo', 'd.hours_lodged_to_release',
            "d.declaration_type = 'EX' and d.is_aeo and d.released_at is not null") }},
        -- time_to_transit_aeo: the same for TR
        {{ kpi_mean('time_to_transit_aeo', 'd.hours_lodged_to_release',
            "d.declaration_type = 'TR' and d.is_aeo and d.released_at is not null") }},
        -- time_to_import_non_aeo: the same for IM by non-AEOs
        {{ kpi_mean('time_to_import_non_aeo', 'd.hours_lodged_to_release',
            "d.declaration_type = 'IM' and not d.is_aeo and d.released_at is not null") }},
        -- released_within_24h_share: 100 x released at most 24 h after lodgement / all declarations
        --   (one not released counts in the denominator only)
        {{ kpi_share('released_within_24h_share', 'd.hours_lodged_to_release <= 24',
            'd.declaration_id is not null') }},
        -- pre_arrival_release_share: 100 x released strictly before arrival / IM with both times
        {{ kpi_share('pre_arrival_release_share', 'd.released_at < d.arrival_at',
            "d.declaration_type = 'IM' and d.arrival_at is not null and d.released_at is not null") }},
        -- release_time_arrival_to_release: mean hours arrival -> released, IM of all traders with both times
        {{ kpi_mean('release_time_arrival_to_release', 'd.hours_arrival_to_release',
            "d.declaration_type = 'IM' and d.arrival_at is not null and d.released_at is not null") }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month

)

{{ kpi_unpivot('monthly', kpi_ids) }}
