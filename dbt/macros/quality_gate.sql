{#-
    The months of `feed` the quality gate withholds (a subquery of month dates). Incremental
    models of that feed's facts keep what they held for these months (the published figures)
    instead of rebuilding them from the failed delivery.
-#}
{% macro withheld_months(feed) -%}
    (select month from {{ ref('stg_quality_gate') }} where feed = '{{ feed }}' and state = 'withheld')
{%- endmacro %}
