{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=month_partition('month'),
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month', keep_withheld='declarations') }}"
    )
}}

with declarations as (

    select * from {{ ref('stg_declarations') }}
    -- a month whose declarations the quality gate withholds keeps the rows it held
    where
        not {{ withheld_month('partition_month', 'declarations') }}
        {% if is_incremental() %}
        and {{ month_window_filter('partition_month') }}
        {% endif %}

),

{#
    Only the lane rows of the declarations being built: ranking every lane of
    history on each run would make a month's cost grow with the history.
-#}
declaration_lane_rows as (

    select * from {{ ref('stg_lanes') }}
    where declaration_id in (select declaration_id from declarations)

),

{{ declaration_lanes_ctes('declaration_lane_rows') }},

lanes as (

    select
        first_lanes.declaration_id,
        first_lanes.lane as first_lane,
        final_lanes.lane as final_lane,
        final_lanes.selection as final_selection,
        final_lanes.finding as final_finding,
        first_lanes.lane_rows
    from first_lanes
    inner join final_lanes
        on final_lanes.declaration_id = first_lanes.declaration_id

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
