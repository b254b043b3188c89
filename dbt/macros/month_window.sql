{#-
    The half-open window of months [month_from, month_to) that incremental
    models rebuild in this run, read from meta.build_window (written by the
    orchestrator before each dbt build). No row means an empty window (no
    month to rebuild). Returns none while parsing.
-#}
{% macro build_window() -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=target.database, schema='meta', identifier='build_window') -%}
    {%- if relation is none -%}
        {{ exceptions.raise_compiler_error("meta.build_window does not exist: the orchestrator must write the build window before an incremental dbt build") }}
    {%- endif -%}
    {%- set rows = run_query('select month_from, month_to from ' ~ relation).rows -%}
    {%- if rows | length == 0 -%}
        {{ return({'month_from': none, 'month_to': none}) }}
    {%- endif -%}
    {%- if rows | length > 1 -%}
        {{ exceptions.raise_compiler_error("meta.build_window must hold at most one row, found " ~ (rows | length)) }}
    {%- endif -%}
    {%- set month_from = rows[0][0] -%}
    {%- set month_to = rows[0][1] -%}
    {%- if month_from is none or month_to is none or month_from.day != 1 or month_to.day != 1 or month_from > month_to -%}
        {{ exceptions.raise_compiler_error("meta.build_window must be first days of months with month_from <= month_to, found [" ~ month_from ~ ", " ~ month_to ~ ")") }}
    {%- endif -%}
    {{ return({'month_from': month_from.isoformat(), 'month_to': month_to.isoformat()}) }}
{%- endmacro %}

{#- Predicate: `column` (a month DATE) lies in the build window. -#}
{% macro month_window_filter(column) -%}
    {%- set window = build_window() -%}
    {%- if window is none -%}
        ({{ column }} is not null)
    {%- elif window.month_from is none -%}
        (1 = 0)
    {%- else -%}
        ({{ column }} >= cast('{{ window.month_from }}' as date) and {{ column }} < cast('{{ window.month_to }}' as date))
    {%- endif -%}
{%- endmacro %}

{#-
    Pre-hook of month-incremental models: on an incremental run, delete the
    window's months (and the rows matched by `also_delete`, a predicate) from
    the target, except the rows matched by `keep` (a predicate: rows that stay
    as they are), so that the model's select can append them again.
    On a first build or a full refresh it renders nothing.
-#}
{% macro delete_month_window(month_column, also_delete=none, keep=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where ({{ month_window_filter(month_column) }}
        {%- if also_delete %}
            or ({{ also_delete }})
        {%- endif %})
        {%- if keep %}
            and not {{ keep }}
        {%- endif %}
    {%- endif -%}
{%- endmacro %}
