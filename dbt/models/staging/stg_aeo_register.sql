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
        {{ lineage_columns() }}

    from source

)

select * from renamed
