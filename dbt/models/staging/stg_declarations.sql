with source as (

    select * from {{ source('raw', 'declarations') }}

),

renamed as (

    select
        declaration_id,
        declaration_type,
        office_code,
        transport_mode,
        trader_id,
        category,
        is_paperless,
        partner_country,
        hs_code,
        customs_value,
        duty_amount,
        clearance_cost,
        edoc_seconds,
        arrival_at,
        lodged_at,
        released_at,
        {{ to_local_timestamp('lodged_at') }} as lodged_at_local,
        {{ local_date('lodged_at') }} as lodged_date_local,
        {{ local_month('lodged_at') }} as lodged_month,
        _month as partition_month,
        {{ lineage_columns() }}

    from source

)

select * from renamed
