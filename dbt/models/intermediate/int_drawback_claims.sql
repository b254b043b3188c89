with claims as (

    select * from {{ ref('stg_drawback') }}

),

certificates as (

    select * from {{ ref('int_aeo_certificates') }}

),

aeo as (

    select
        claims.claim_id,
        count(certificates.application_id) > 0 as is_aeo
    from claims
    left join certificates
        on certificates.trader_id = claims.trader_id
        and {{ aeo_certificate_valid_on('certificates', 'claims.lodged_date_local') }}
    group by claims.claim_id

),

final as (

    select
        claims.claim_id,
        claims.trader_id,
        claims.declaration_id,
        claims.status,
        claims.lodged_at,
        claims.decided_at,
        claims.lodged_date_local,
        claims.lodged_month,
        aeo.is_aeo,
        claims.decided_at is not null as is_decided,
        {{ epoch_seconds_between('claims.lodged_at', 'claims.decided_at') }} / 86400 as days_to_decision,
        claims.amount_claimed,
        claims.amount_approved
    from claims
    inner join aeo
        on aeo.claim_id = claims.claim_id

)

select * from final
