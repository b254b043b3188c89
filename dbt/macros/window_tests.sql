{#-
    Data tests check what the run built. For the models that grow with history
    (listed in the `window_tested` var, with their month column), a generic
    test reads only the build window's months, so a monthly run's tests cost
    the same with one month of history as with ten years. The test's own
    `where` config still applies. An empty window tests none of their rows.
-#}
{% macro get_where_subquery(relation) -%}
    {%- set filters = [] -%}
    {%- set where = config.get('where') -%}
    {%- if where -%}
        {%- do filters.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set column = var('window_tested', {}).get(relation.identifier) if relation.identifier is defined else none -%}
    {%- if column and execute -%}
        {%- do filters.append(month_window_filter(column)) -%}
    {%- endif -%}
    {%- if filters -%}
        (select * from {{ relation }} where {{ filters | join(' and ') }}) dbt_subquery
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#-
    dbt's relationships test, with the parent side reduced to the keys the
    child rows name (a semi-join): the parent may hold all of history, the
    child only the window's rows.
-#}
{% test relationships(model, column_name, to, field) %}

with child as (

    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null

),

parent as (

    select {{ field }} as to_field
    from {{ to }}
    where {{ field }} in (select from_field from child)

)

select from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null

{% endtest %}
