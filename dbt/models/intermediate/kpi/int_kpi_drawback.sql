{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Processing of drawback": claims lodged in the month, split by
    whether the claimant was an AEO on the local date of lodgement, and the
    mean days to a decision. Counts are null for a month without a drawback
    delivery.
-#}
{%- set kpi_ids = [
    'drawback_claims_aeo',
    'drawback_claims_non_aeo',
    'drawback_days_aeo',
    'drawback_days_non_aeo',
] -%}

with months as (

    {{ kpi_months(['drawback']) }}

),

claims as (

    select
        lodged_month as month,
        claim_id,
        is_aeo,
        decided_at,
        days_to_decision
    from {{ ref('int_drawback_claims') }}
    where {{ kpi_window_filter('lodged_month') }}

),

monthly as (

    select
        months.month,
        -- drawback_claims_aeo: claims lodged in the month by AEOs
        {{ kpi_count('drawback_claims_aeo', 'c.is_aeo', 'months.drawback_delivered') }},
        -- drawback_claims_non_aeo: claims lodged in the month by non-AEOs
        {{ kpi_count('drawback_claims_non_aeo', 'not c.is_aeo', 'months.drawback_delivered') }},
        -- drawback_days_aeo: mean days lodged -> decided, AEO claims of the month that are decided
        {{ kpi_mean('drawback_days_aeo', 'c.days_to_decision', 'c.is_aeo and c.decided_at is not null') }},
        -- drawback_days_non_aeo: the same for non-AEO claims
        {{ kpi_mean('drawback_days_non_aeo', 'c.days_to_decision', 'not c.is_aeo and c.decided_at is not null') }}
    from months
    left join claims as c
        on c.month = months.month
    group by months.month, months.drawback_delivered

)

{{ kpi_unpivot('monthly', kpi_ids) }}
