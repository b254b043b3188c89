with source as (

    select * from {{ source('raw', 'manual') }}

),

renamed as (

    select
        _month as month,
        kpi_id,
        value,
        note,
        _file as source_file,
        _line as source_line,
        _loaded_at as loaded_at

    from source

)

select * from renamed
