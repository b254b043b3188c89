{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Single Window service levels" (the SLA of the clearance
    system): service requests completed on time, e-document processing time
    of export declarations, and system failures. Months are cut in the
    administration's time zone.
-#}
{%- set tz = admin_time_zone() -%}
{%- set kpi_ids = [
    'sla_timely_processing_rate',
    'edoc_processing_seconds_export',
    'system_failures',
] -%}

with months as (

    {{ kpi_months(['tickets']) }}

),

tickets as (

    select
        ticket_id,
        ticket_type,
        opened_at,
        due_at,
        resolved_at,
        {{ kpi_local_month('opened_at', tz) }} as opened_month,
        {{ kpi_local_month('due_at', tz) }} as due_month
    from {{ ref('stg_tickets') }}

),

scheduled as (

    -- Service requests due in the month, whatever month they were opened in.
    -- month_end: the first instant of the next local month, in UTC (the exclusive end of the month).
    select
        due_month as month,
        ticket_id,
        due_at,
        resolved_at,
        {{ kpi_local_to_utc(dbt.dateadd('month', 1, 'due_month'), tz) }} as month_end
    from tickets
    where ticket_type = 'SERVICE_REQUEST'
        and due_at is not null
        and {{ kpi_window_filter('due_month') }}

),

scheduled_delays as (

    -- On time: resolved, and not after the due time. Otherwise the delay in
    -- whole days, rounded up: to resolved_at where set (even after the month),
    -- else to the end of the month.
    select
        month,
        ticket_id,
        case when resolved_at is not null and resolved_at <= due_at then 1 else 0 end as is_on_time,
        case
            when resolved_at is not null and resolved_at <= due_at then 0
            else ceil({{ epoch_seconds_between('due_at', 'coalesce(resolved_at, month_end)') }} / 86400)
        end as delay_days
    from scheduled

),

sla_rate as (

    select
        months.month,
        -- sla_timely_processing_rate: 100 x on time / (scheduled + 0.5 x sum of delay days); null when none scheduled
        cast(
            100.0 * sum(s.is_on_time)
            / nullif(count(s.ticket_id) + 0.5 * coalesce(sum(s.delay_days), 0), 0)
            as {{ type_double() }}
        ) as sla_timely_processing_rate__value,
        cast(count(s.ticket_id) as {{ dbt.type_bigint() }}) as sla_timely_processing_rate__n
    from months
    left join scheduled_delays as s
        on s.month = months.month
    group by months.month

),

exports as (

    select
        month,
        edoc_seconds
    from {{ ref('fct_declarations') }}
    where declaration_type = 'EX'
        and {{ kpi_window_filter('month') }}

),

edoc as (

    select
        months.month,
        -- edoc_processing_seconds_export: mean edoc_seconds of EX lodged in the month, where reported
        {{ kpi_mean('edoc_processing_seconds_export', 'e.edoc_seconds', 'e.month is not null') }}
    from months
    left join exports as e
        on e.month = months.month
    group by months.month

),

failures as (

    select
        months.month,
        -- system_failures: FAILURE tickets opened in the month; null without a tickets delivery
        {{ kpi_count('system_failures', "t.ticket_type = 'FAILURE'", 'months.tickets_delivered') }}
    from months
    left join tickets as t
        on t.opened_month = months.month
    group by months.month, months.tickets_delivered

),

monthly as (

    select
        months.month,
        sla_rate.sla_timely_processing_rate__value,
        sla_rate.sla_timely_processing_rate__n,
        edoc.edoc_processing_seconds_export__value,
        edoc.edoc_processing_seconds_export__n,
        failures.system_failures__value,
        failures.system_failures__n
    from months
    inner join sla_rate
        on sla_rate.month = months.month
    inner join edoc
        on edoc.month = months.month
    inner join failures
        on failures.month = months.month

)

{{ kpi_unpivot('monthly', kpi_ids) }}
