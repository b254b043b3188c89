with audit as (

    select * from {{ ref('stg_load_audit') }}

),

bounds as (

    select
        min(month) as first_month,
        max(month) as last_month
    from audit

),

series as (

    select {{ month_series('first_month', 'last_month') }} as month_start
    from bounds

)

select cast(month_start as date) as month
from series
