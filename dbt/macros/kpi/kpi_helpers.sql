{#-
    Helpers of the KPI layer (models/intermediate/kpi, models/marts/kpi).

    Every int_kpi_* model aggregates the records of its KPIs (kpi_evidence.sql,
    kpi_records.sql) into the long form (kpi_id, month, value, n) over the
    months built here (kpi_months). Everything here is portable SQL;
    adapter-specific functions sit in dispatched macros.
-#}

{#- Predicate for the months an int_kpi model (re)builds: the build window on an incremental run, every month
    otherwise (also in views, tables, and the unit tests of a table model, where `this` is none). -#}
{% macro kpi_window_filter(column) -%}
    {%- if this is not none and is_incremental() -%}
        {{ month_window_filter(column) }}
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}

{#- The months of int_months that this run computes, with `<feed>_delivered` for each feed named:
    whether that feed had a delivery for the month (a count over an undelivered feed is null). -#}
{% macro kpi_months(feeds=[]) -%}
    select
        months.month
        {%- for feed in feeds %},
        {{ feed }}_delivery.month is not null as {{ feed }}_delivered
        {%- endfor %}
    from {{ ref('int_months') }} as months
    {%- for feed in feeds %}
    left join {{ ref('int_feed_deliveries') }} as {{ feed }}_delivery
        on {{ feed }}_delivery.month = months.month
        and {{ feed }}_delivery.feed = '{{ feed }}'
    {%- endfor %}
    where {{ kpi_window_filter('months.month') }}
{%- endmacro %}

{#- Month (first day) of a UTC timestamp in the time zone `tz`. -#}
{% macro kpi_local_month(ts, tz) -%}
    cast({{ dbt.date_trunc('month', to_local_timestamp(ts, tz)) }} as date)
{%- endmacro %}

{#-
    The UTC timestamp of the wall-clock time `ts` (a timestamp without time
    zone) in the time zone `tz`: the inverse of to_local_timestamp.
-#}
{% macro kpi_local_to_utc(ts, tz) -%}
    {{ return(adapter.dispatch('kpi_local_to_utc', 'customs_kpi')(ts, tz)) }}
{%- endmacro %}

{% macro default__kpi_local_to_utc(ts, tz) -%}
    cast((({{ ts }}) at time zone '{{ tz }}') at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__kpi_local_to_utc(ts, tz) -%}
    timezone('UTC', timezone('{{ tz }}', cast({{ ts }} as timestamp)))
{%- endmacro %}

{% macro spark__kpi_local_to_utc(ts, tz) -%}
    to_utc_timestamp({{ ts }}, '{{ tz }}')
{%- endmacro %}

{#- Calendar year (integer) of a date. -#}
{% macro kpi_year(d) -%}
    {{ return(adapter.dispatch('kpi_year', 'customs_kpi')(d)) }}
{%- endmacro %}

{% macro default__kpi_year(d) -%}
    cast(extract(year from {{ d }}) as integer)
{%- endmacro %}
