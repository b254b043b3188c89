with source as (

    select * from {{ source('raw', 'tickets') }}

),

renamed as (

    select
        ticket_id,
        ticket_type,
        system as affected_system,
        opened_at,
        due_at,
        resolved_at,
        {{ local_date('opened_at') }} as opened_date_local,
        {{ local_month('opened_at') }} as opened_month,
        {{ local_month('due_at') }} as due_month,
        _month as partition_month,
        {{ lineage_columns() }}

    from source

)

select * from renamed
