with source as (

    select * from {{ source('meta', 'quality_gate') }}

),

renamed as (

    select
        feed,
        month,
        state,
        note

    from source

)

select * from renamed
