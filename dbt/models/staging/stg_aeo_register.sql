with source as (

    select * from {{ source('raw', 'aeo_register') }}

),

renamed as (

    select
        _month as snapshot_month,
        application_id,
        trader_id,
        decision,
        submitted_at,
        decided_at,
        valid_from,
        valid_to,
        revoked_at,
        {{ local_month('submitted_at') }} as submitted_month,
        {{ local_month('decided_at') }} as decided_month,
        _file as source_file,
        _line as source_line,
        _loaded_at as loaded_at

    from source

)

select * from renamed
