with source as (

    select * from {{ source('raw', 'drawback') }}

),

renamed as (

    select
        claim_id,
        trader_id,
        declaration_id,
        status,
        lodged_at,
        decided_at,
        amount_claimed,
        amount_approved,
        {{ local_date('lodged_at') }} as lodged_date_local,
        {{ local_month('lodged_at') }} as lodged_month,
        _month as partition_month,
        {{ lineage_columns() }}

    from source

)

select * from renamed
