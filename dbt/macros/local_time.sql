{#- The administration's IANA time zone (CUSTOMS_KPI_TZ, default UTC); months and local dates are cut in it. -#}
{% macro admin_time_zone() -%}
    {%- set tz = env_var('CUSTOMS_KPI_TZ', 'UTC') | trim -%}
    {%- if not modules.re.fullmatch('[A-Za-z][A-Za-z0-9_+/-]*', tz) -%}
        {{ exceptions.raise_compiler_error("CUSTOMS_KPI_TZ=" ~ tz ~ " is not an IANA time zone name") }}
    {%- endif -%}
    {{ return(tz) }}
{%- endmacro %}

{#- Local calendar date of a UTC timestamp. -#}
{% macro local_date(ts) -%}
    cast({{ to_local_timestamp(ts) }} as date)
{%- endmacro %}

{#- First day of the local calendar month of a UTC timestamp. -#}
{% macro local_month(ts) -%}
    cast({{ dbt.date_trunc('month', to_local_timestamp(ts)) }} as date)
{%- endmacro %}
