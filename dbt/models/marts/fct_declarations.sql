{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month', also_delete=fct_declarations_outdated()) }}"
    )
}}

with declarations as (

    select * from {{ ref('stg_declarations') }}
    {% if is_incremental() %}
    {#- The window's months, plus the rows the pre-hook removed as outdated outside it. #}
    where {{ month_window_filter('partition_month') }}
        or declaration_id not in (select declaration_id from {{ this }})
    {% endif %}

),

lanes as (

    select * from {{ ref('int_declaration_lanes') }}

),

certificates as (

    select * from {{ ref('int_aeo_certificates') }}

),

regions as (

    select * from {{ ref('country_regions') }}

),

aeo as (

    select
        declarations.declaration_id,
        count(certificates.application_id) > 0 as is_aeo
    from declarations
    left join certificates
        on certificates.trader_id = declarations.trader_id
        and {{ aeo_certificate_valid_on('certificates', 'declarations.lodged_date_local') }}
    group by declarations.declaration_id

),

durations as (

    select
        declaration_id,
        {{ epoch_seconds_between('lodged_at', 'released_at') }} as seconds_lodged_to_release,
        {{ epoch_seconds_between('arrival_at', 'lodged_at') }} as seconds_arrival_to_lodged,
        {{ epoch_seconds_between('arrival_at', 'released_at') }} as seconds_arrival_to_release
    from declarations

),

final as (

    select
        declarations.declaration_id,
        declarations.lodged_month as month,
        declarations.declaration_type,
        declarations.office_code,
        declarations.transport_mode,
        declarations.trader_id,
        declarations.category,
        declarations.is_paperless,
        declarations.partner_country,
        regions.region,
        declarations.hs_code,
        declarations.customs_value,
        declarations.duty_amount,
        declarations.clearance_cost,
        declarations.edoc_seconds,
        declarations.arrival_at,
        declarations.lodged_at,
        declarations.released_at,
        declarations.lodged_date_local,
        declarations.declaration_type in ('IM', 'EX') as is_trade,
        aeo.is_aeo,
        declarations.released_at is not null as is_released,
        lanes.first_lane,
        lanes.final_lane,
        lanes.final_selection,
        lanes.final_finding,
        cast(coalesce(lanes.lane_rows, 0) as {{ dbt.type_bigint() }}) as lane_rows,
        durations.seconds_lodged_to_release / 3600 as hours_lodged_to_release,
        durations.seconds_arrival_to_lodged / 3600 as hours_arrival_to_lodged,
        durations.seconds_arrival_to_release / 3600 as hours_arrival_to_release,
        case
            when declarations.released_at is null then null
            else durations.seconds_lodged_to_release <= 86400
        end as released_within_24h,
        case
            when declarations.released_at is null or declarations.arrival_at is null then null
            else declarations.released_at < declarations.arrival_at
        end as released_before_arrival
    from declarations
    inner join aeo
        on aeo.declaration_id = declarations.declaration_id
    inner join durations
        on durations.declaration_id = declarations.declaration_id
    left join lanes
        on lanes.declaration_id = declarations.declaration_id
    left join regions
        on regions.country_code = declarations.partner_country

)

select * from final
