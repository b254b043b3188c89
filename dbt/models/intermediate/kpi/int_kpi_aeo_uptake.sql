{#-
    KPI group "AEO programme uptake", computed KPIs (aeo_acceptance_rating is
    manual: int_kpi_manual). Everything here reads the latest snapshot of the
    AEO register, which restates the whole history, so the model is small and
    rebuilt whole on every run.
-#}
{%- set tz = admin_time_zone() -%}
{%- set kpi_ids = [
    'aeo_applications_received',
    'aeo_applications_approved',
    'aeo_active_operators',
    'aeo_operators_change_pct',
    'aeo_authorisation_days',
] -%}

with months as (

    select
        month,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month')) }} as date) as last_day
    from {{ ref('int_months') }}

),

applications as (

    select
        application_id,
        trader_id,
        decision,
        submitted_at,
        decided_at,
        {{ kpi_local_month('submitted_at', tz) }} as submitted_month,
        {{ kpi_local_month('decided_at', tz) }} as decided_month,
        {{ epoch_seconds_between('submitted_at', 'decided_at') }} / 86400 as days_to_decision
    from {{ ref('int_aeo_register_latest') }}

),

certificates as (

    select * from {{ ref('int_aeo_certificates') }}

),

received as (

    select
        months.month,
        -- aeo_applications_received: applications submitted in the month (local time)
        {{ kpi_count('aeo_applications_received', 'applications.application_id is not null', 'true') }}
    from months
    left join applications
        on applications.submitted_month = months.month
    group by months.month

),

decided as (

    select
        months.month,
        -- aeo_applications_approved: APPROVED applications decided in the month
        {{ kpi_count('aeo_applications_approved', "applications.decision = 'APPROVED'", 'true') }},
        -- aeo_authorisation_days: mean days submitted -> decided, APPROVED or REJECTED decided in the month
        {{ kpi_mean('aeo_authorisation_days', 'applications.days_to_decision', "applications.decision in ('APPROVED', 'REJECTED')") }}
    from months
    left join applications
        on applications.decided_month = months.month
    group by months.month

),

active as (

    -- aeo_active_operators: distinct traders that are AEO on the month's last day
    -- (valid_from <= day < valid_until, valid_until = least(valid_to, revoked_at))
    select
        months.month,
        cast(count(distinct certificates.trader_id) as {{ dbt.type_bigint() }}) as operators
    from months
    left join certificates
        on {{ aeo_certificate_valid_on('certificates', 'months.last_day') }}
    group by months.month

),

monthly as (

    select
        months.month,
        received.aeo_applications_received__value,
        received.aeo_applications_received__n,
        decided.aeo_applications_approved__value,
        decided.aeo_applications_approved__n,
        decided.aeo_authorisation_days__value,
        decided.aeo_authorisation_days__n,
        cast(active.operators as {{ type_double() }}) as aeo_active_operators__value,
        active.operators as aeo_active_operators__n,
        -- aeo_operators_change_pct: 100 x (operators now - a year before) / a year before;
        -- null where the month a year before is not a loaded month or had no operator
        cast(
            100.0 * (active.operators - year_before.operators) / nullif(year_before.operators, 0)
            as {{ type_double() }}
        ) as aeo_operators_change_pct__value,
        -- n: the operators at the month's end, where the change is defined
        case
            when year_before.operators > 0 then active.operators
        end as aeo_operators_change_pct__n
    from months
    inner join received
        on received.month = months.month
    inner join decided
        on decided.month = months.month
    inner join active
        on active.month = months.month
    left join active as year_before
        on year_before.month = cast({{ dbt.dateadd('month', -12, 'months.month') }} as date)

)

{{ kpi_unpivot('monthly', kpi_ids) }}
