with source as (

    select * from {{ source('raw', 'lanes') }}

),

renamed as (

    select
        declaration_id,
        lane,
        assigned_at,
        selection,
        rule_id,
        inspection_ended_at,
        finding,
        {{ local_date('assigned_at') }} as assigned_date_local,
        {{ local_month('assigned_at') }} as assigned_month,
        _month as partition_month,
        {{ lineage_columns() }}

    from source

)

select * from renamed
