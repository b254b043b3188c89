{#-
    Elapsed seconds from `start_ts` to `end_ts` (negative when end is earlier),
    as a double, exact to the microsecond: dbt.datediff counts boundaries
    crossed and drops fractions, which is not what a duration is.
-#}
{% macro epoch_seconds_between(start_ts, end_ts) -%}
    {{ return(adapter.dispatch('epoch_seconds_between', 'customs_kpi')(start_ts, end_ts)) }}
{%- endmacro %}

{% macro default__epoch_seconds_between(start_ts, end_ts) -%}
    cast(extract(epoch from ({{ end_ts }})) - extract(epoch from ({{ start_ts }})) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__epoch_seconds_between(start_ts, end_ts) -%}
    (cast(epoch_us({{ end_ts }}) - epoch_us({{ start_ts }}) as double) / 1000000)
{%- endmacro %}

{% macro spark__epoch_seconds_between(start_ts, end_ts) -%}
    (cast(unix_micros({{ end_ts }}) - unix_micros({{ start_ts }}) as double) / 1000000)
{%- endmacro %}
