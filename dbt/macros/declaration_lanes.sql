{#-
    CTEs `ranked`, `first_lanes` and `final_lanes` over a relation of lane
    rows (stg_lanes columns): per declaration, its first and its final lane
    assignment (by assigned_at, then delivery month, file and line) and how
    many lane rows it has. fct_declarations ranks only the lane rows of the
    declarations it rebuilds.
-#}
{% macro declaration_lanes_ctes(lanes) -%}
ranked as (

    select
        declaration_id,
        lane,
        assigned_at,
        selection,
        finding,
        inspection_ended_at,
        row_number() over (
            partition by declaration_id
            order by assigned_at asc, partition_month asc, source_file asc, source_line asc
        ) as first_rank,
        row_number() over (
            partition by declaration_id
            order by assigned_at desc, partition_month desc, source_file desc, source_line desc
        ) as final_rank,
        count(*) over (partition by declaration_id) as lane_rows
    from {{ lanes }}

),

first_lanes as (

    select * from ranked where first_rank = 1

),

final_lanes as (

    select * from ranked where final_rank = 1

)
{%- endmacro %}
