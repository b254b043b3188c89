with audit as (

    select * from {{ ref('stg_load_audit') }}

),

deliveries as (

    select
        feed,
        month,
        count(distinct file_name) as file_count,
        max(loaded_at) as last_loaded_at
    from audit
    group by feed, month

)

select * from deliveries
