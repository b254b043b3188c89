{#-
    Predicate: `column` (a month DATE) is a month of `feed` that the quality gate withholds
    (meta.quality_gate, written by the orchestrator before each build, like meta.build_window).
    Incremental models of that feed's facts keep what they held for these months (the published
    figures) instead of rebuilding them from the failed delivery.

    The months are read when the model runs and rendered as literals, not as a subquery: a join
    would reorder the rows, and the sums of doubles over them would then differ in their last
    bits from one build to the next. False while parsing, or when nothing is withheld.
-#}
{% macro withheld_month(column, feed) -%}
    {%- set months = withheld_months(feed) -%}
    {%- if not months -%}
        {{ return('(1 = 0)') }}
    {%- endif -%}
    {%- set literals = [] -%}
    {%- for month in months -%}
        {%- do literals.append("cast('" ~ month ~ "' as date)") -%}
    {%- endfor -%}
    {{ return('(' ~ column ~ ' in (' ~ literals | join(', ') ~ '))') }}
{%- endmacro %}

{#- The months of `feed` the quality gate withholds, as ISO dates ([] while parsing). -#}
{% macro withheld_months(feed) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(database=target.database, schema='meta', identifier='quality_gate') -%}
    {%- if relation is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set rows = run_query("select distinct month from " ~ relation ~ " where feed = '" ~ feed ~ "' and state = 'withheld' order by month").rows -%}
    {%- set months = [] -%}
    {%- for row in rows -%}
        {%- do months.append(row[0].isoformat() if row[0].isoformat is defined else (row[0] | string)[:10]) -%}
    {%- endfor -%}
    {{ return(months) }}
{%- endmacro %}
