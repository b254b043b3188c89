{#-
    The wall-clock time in the administration's time zone of a UTC timestamp
    (a timestamp without time zone that holds UTC). The zone is the
    CUSTOMS_KPI_TZ setting unless one is passed.
-#}
{% macro to_local_timestamp(ts, tz=none) -%}
    {{ return(adapter.dispatch('to_local_timestamp', 'customs_kpi')(ts, admin_time_zone() if tz is none else tz)) }}
{%- endmacro %}

{% macro default__to_local_timestamp(ts, tz) -%}
    cast((({{ ts }}) at time zone 'UTC') at time zone '{{ tz }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__to_local_timestamp(ts, tz) -%}
    timezone('{{ tz }}', timezone('UTC', {{ ts }}))
{%- endmacro %}

{% macro spark__to_local_timestamp(ts, tz) -%}
    from_utc_timestamp({{ ts }}, '{{ tz }}')
{%- endmacro %}
