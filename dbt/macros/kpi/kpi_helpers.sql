{#-
    Helpers of the KPI layer (models/intermediate/kpi, models/marts/kpi).

    Every int_kpi_* model aggregates one row per month with two columns per
    KPI, `<kpi_id>__value` and `<kpi_id>__n`, written with the kpi_mean /
    kpi_share / kpi_count helpers below, and then turns them into the long
    form (kpi_id, month, value, n) with kpi_unpivot. Everything here is
    portable SQL (case, avg, count, sum, nullif); adapter-specific functions
    sit in dispatched macros.
-#}

{#- Predicate for the months an int_kpi model (re)builds: the build window on an incremental run, every month otherwise. -#}
{% macro kpi_window_filter(column) -%}
    {%- if is_incremental() -%}
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

{#- Mean of `expr` over the rows where `condition` holds; n = rows averaged (expr not null). Null over no row. -#}
{% macro kpi_mean(kpi_id, expr, condition) -%}
    cast(avg(case when {{ condition }} then {{ expr }} end) as {{ type_double() }}) as {{ kpi_id }}__value,
    cast(count(case when {{ condition }} then {{ expr }} end) as {{ dbt.type_bigint() }}) as {{ kpi_id }}__n
{%- endmacro %}

{#-
    Percentage share: 100 x (rows where `numerator` holds) / (rows where
    `denominator` holds), or, with `weight`, the same over sums of `weight`.
    Null where the denominator is 0 (or has no row); n = denominator rows.
    `numerator` is evaluated only on denominator rows.
-#}
{% macro kpi_share(kpi_id, numerator, denominator, weight=none) -%}
    {%- if weight is none -%}
    cast(
        100.0 * count(case when ({{ denominator }}) and ({{ numerator }}) then 1 end)
        / nullif(count(case when {{ denominator }} then 1 end), 0)
        as {{ type_double() }}
    ) as {{ kpi_id }}__value,
    {%- else -%}
    cast(
        100.0 * coalesce(sum(case when ({{ denominator }}) and ({{ numerator }}) then {{ weight }} end), 0)
        / nullif(sum(case when {{ denominator }} then {{ weight }} end), 0)
        as {{ type_double() }}
    ) as {{ kpi_id }}__value,
    {%- endif %}
    cast(count(case when {{ denominator }} then 1 end) as {{ dbt.type_bigint() }}) as {{ kpi_id }}__n
{%- endmacro %}

{#-
    Count of the rows where `condition` holds: 0 over no row, but null (value
    and n) where `delivered` (a grouped boolean: the feeds read had a delivery
    for the month) is false.
-#}
{% macro kpi_count(kpi_id, condition, delivered) -%}
    cast(case when {{ delivered }} then count(case when {{ condition }} then 1 end) end as {{ type_double() }}) as {{ kpi_id }}__value,
    cast(case when {{ delivered }} then count(case when {{ condition }} then 1 end) end as {{ dbt.type_bigint() }}) as {{ kpi_id }}__n
{%- endmacro %}

{#- Long form of a wide monthly relation: one row (kpi_id, month, value, n) per KPI of `kpi_ids` and month. -#}
{% macro kpi_unpivot(relation, kpi_ids) -%}
    {%- for kpi_id in kpi_ids %}
    select
        cast('{{ kpi_id }}' as {{ dbt.type_string() }}) as kpi_id,
        month,
        {{ kpi_id }}__value as value,
        {{ kpi_id }}__n as n
    from {{ relation }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
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
