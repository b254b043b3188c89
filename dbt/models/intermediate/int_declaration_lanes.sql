with lanes as (

    select * from {{ ref('stg_lanes') }}

),

declarations as (

    select declaration_id from {{ ref('stg_declarations') }}

),

{{ declaration_lanes_ctes('lanes') }},

joined as (

    select
        first_lanes.declaration_id,
        first_lanes.lane as first_lane,
        first_lanes.assigned_at as first_assigned_at,
        first_lanes.selection as first_selection,
        final_lanes.lane as final_lane,
        final_lanes.assigned_at as final_assigned_at,
        final_lanes.selection as final_selection,
        final_lanes.finding as final_finding,
        final_lanes.inspection_ended_at as final_inspection_ended_at,
        cast(first_lanes.lane_rows as {{ dbt.type_bigint() }}) as lane_rows,
        declarations.declaration_id is null as is_orphan
    from first_lanes
    inner join final_lanes
        on final_lanes.declaration_id = first_lanes.declaration_id
    left join declarations
        on declarations.declaration_id = first_lanes.declaration_id

)

select * from joined
