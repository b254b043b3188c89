{#-
    A set-returning select-list expression: one row per month from
    `first_month` to `last_month` (both first days of months, both included).
    Use it in the select list of a one-row relation; it yields no row when
    either bound is null.
-#}
{% macro month_series(first_month, last_month) -%}
    {{ return(adapter.dispatch('month_series', 'customs_kpi')(first_month, last_month)) }}
{%- endmacro %}

{% macro default__month_series(first_month, last_month) -%}
    generate_series({{ first_month }}, {{ last_month }}, interval '1 month')
{%- endmacro %}

{% macro duckdb__month_series(first_month, last_month) -%}
    unnest(generate_series(cast({{ first_month }} as timestamp), cast({{ last_month }} as timestamp), interval 1 month))
{%- endmacro %}

{% macro spark__month_series(first_month, last_month) -%}
    explode(sequence({{ first_month }}, {{ last_month }}, interval 1 month))
{%- endmacro %}
