with source as (

    select * from {{ source('raw', 'manual') }}

),

renamed as (

    select
        _month as month,
        kpi_id,
        value,
        note,
        {{ lineage_columns() }}

    from source

)

select * from renamed
