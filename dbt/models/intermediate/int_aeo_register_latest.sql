with register as (

    select * from {{ ref('stg_aeo_register') }}

),

latest_snapshot as (

    -- a snapshot the quality gate withholds is not the truth: the one before it stays
    select max(snapshot_month) as snapshot_month
    from register
    where snapshot_month not in (
        select month from {{ ref('stg_quality_gate') }} where feed = 'aeo_register' and state = 'withheld'
    )

)

select register.*
from register
inner join latest_snapshot
    on latest_snapshot.snapshot_month = register.snapshot_month
