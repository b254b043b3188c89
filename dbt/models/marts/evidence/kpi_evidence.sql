{{ config(materialized='view') }}
{#-
    Evidence of every KPI: the union of the kpi_evidence_<group> views, the
    measure as a double. Filter by kpi_id and month.
-#}

{%- set groups = [
    'release_time',
    'aeo_trade_share',
    'clearance_cost',
    'paperless',
    'aeo_lanes',
    'drawback',
    'import_inspection',
    'sla',
    'aeo_uptake',
    'manual',
] %}
{%- for group in groups %}
{%- if not loop.first %}
union all
{%- endif %}
select
    kpi_id, month, record_kind, record_id, in_numerator, in_denominator,
    cast(measure as {{ type_double() }}) as measure
from {{ ref('kpi_evidence_' ~ group).include(database=False) }}
{%- endfor %}
