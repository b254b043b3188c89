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
    The first day of every month of the build window, as ISO dates ([] for an empty window,
    none while parsing or without a window).
-#}
{% macro build_window_months() -%}
    {%- set window = build_window() -%}
    {%- if window is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set months = [] -%}
    {%- if window.month_from is not none -%}
        {%- set first = modules.datetime.date.fromisoformat(window.month_from) -%}
        {%- set last = modules.datetime.date.fromisoformat(window.month_to) -%}
        {%- for i in range((last.year - first.year) * 12 + last.month - first.month) -%}
            {%- set index = first.month - 1 + i -%}
            {%- do months.append(modules.datetime.date(first.year + index // 12, index % 12 + 1, 1).isoformat()) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(months) }}
{%- endmacro %}

{#-
    Pre-hook of month-incremental models: on an incremental run, remove the window's months
    from the target, except the months the quality gate withholds for the feed
    `keep_withheld` (those rows stay as they are), so that the model's select can append them
    again. On a first build or a full refresh it renders nothing.
    DuckDB deletes the rows; Spark (Parquet tables, no DELETE) drops the months' partitions:
    the models are partitioned by month there (month_partition).
-#}
{% macro delete_month_window(month_column, keep_withheld=none) -%}
    {{ return(adapter.dispatch('delete_month_window', 'customs_kpi')(month_column, keep_withheld)) }}
{%- endmacro %}

{% macro default__delete_month_window(month_column, keep_withheld) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where {{ month_window_filter(month_column) }}
        {%- if keep_withheld %}
            and not {{ withheld_month(month_column, keep_withheld) }}
        {%- endif %}
    {%- endif -%}
{%- endmacro %}

{% macro spark__delete_month_window(month_column, keep_withheld) -%}
    {%- if is_incremental() -%}
        {%- set kept = withheld_months(keep_withheld) if keep_withheld else [] -%}
        {%- set partitions = [] -%}
        {%- for month in build_window_months() or [] if month not in kept -%}
            {%- do partitions.append("partition (" ~ month_column ~ " = '" ~ month ~ "')") -%}
        {%- endfor -%}
        {%- if partitions -%}
            alter table {{ this }} drop if exists {{ partitions | join(', ') }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The `partition_by` of a month-incremental model: by its month on Spark, none on DuckDB. -#}
{% macro month_partition(month_column) -%}
    {{ return(adapter.dispatch('month_partition', 'customs_kpi')(month_column)) }}
{%- endmacro %}

{% macro default__month_partition(month_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro spark__month_partition(month_column) -%}
    {{ return([month_column]) }}
{%- endmacro %}
