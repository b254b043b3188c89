with latest as (

    select * from {{ ref('int_aeo_register_latest') }}

),

approved as (

    select
        trader_id,
        application_id,
        valid_from,
        valid_to,
        revoked_at,
        decided_at,
        snapshot_month
    from latest
    where decision = 'APPROVED'

),

intervals as (

    select
        trader_id,
        application_id,
        valid_from,
        case
            when valid_to is null then revoked_at
            when revoked_at is null then valid_to
            when revoked_at < valid_to then revoked_at
            else valid_to
        end as valid_until,
        valid_to,
        revoked_at,
        decided_at,
        snapshot_month
    from approved

)

select * from intervals
