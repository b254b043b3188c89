with register as (

    select * from {{ ref('stg_aeo_register') }}

),

latest_snapshot as (

    select max(snapshot_month) as snapshot_month
    from register

)

select register.*
from register
inner join latest_snapshot
    on latest_snapshot.snapshot_month = register.snapshot_month
