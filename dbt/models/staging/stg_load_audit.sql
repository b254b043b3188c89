with source as (

    select * from {{ source('raw', 'load_audit') }}

),

renamed as (

    select
        feed,
        month,
        file as file_name,
        file_sha256,
        rows_read,
        rows_accepted,
        rows_rejected,
        quality_result,
        quality_note,
        notes,
        loaded_at

    from source

)

select * from renamed
