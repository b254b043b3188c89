{#-
    The evidence layer of the KPIs: every computed KPI is defined once, as the
    records behind it, and its value is an aggregate of those records.

    A records macro (`kpi_records_<group>`, in macros/kpi/kpi_records.sql)
    takes the relations it reads as arguments and yields one row per record
    and KPI:

        kpi_id, month, record_kind, record_id, in_numerator, in_denominator, measure

    The int_kpi_<group> model calls it over the work tables and aggregates it
    per KPI and month with kpi_aggregate (below); the view
    marts.kpi_evidence_<group> calls the same macro over the published fact
    tables. Value and evidence therefore cannot drift.

    How each aggregation reads the records (`agg` of a KPI spec):

      mean            avg(measure) over the numerator rows; n = denominator rows
                      (every record of a mean is in both)
      share           100 x numerator rows / denominator rows; n = denominator rows
      weighted_share  100 x sum(measure) over numerator rows / sum(measure) over
                      denominator rows; n = denominator rows
      count           numerator rows; null (value and n) where the feeds read had
                      no delivery for the month (`delivered`)
      distinct_count  distinct record ids in the numerator
      change_pct      100 x (distinct numerator ids - distinct denominator ids)
                      / distinct denominator ids; n = numerator ids where defined
      sla_rate        100 x numerator rows / (denominator rows + 0.5 x sum of
                      measure (delay days) over denominator rows)

    The KPI model aggregates each KPI's records on their own (a records macro
    takes the list of KPIs wanted), so a measure keeps its own type (decimal
    values stay decimal) and the figures are those of a direct aggregate.
-#}

{#- Whether `kpi_id` is asked for: `kpi_ids` none means every KPI of the group. -#}
{% macro kpi_wanted(kpi_id, kpi_ids) -%}
    {{ return(kpi_ids is none or kpi_id in kpi_ids) }}
{%- endmacro %}

{#- Union all of the record queries in `parts` (a list of SQL strings). -#}
{% macro kpi_union_records(parts) -%}
    {%- if parts | length == 0 -%}
        {{ exceptions.raise_compiler_error("kpi records: no KPI selected") }}
    {%- endif -%}
    {%- for part in parts %}
    {{ part }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- One evidence row per row of `relation` where `where` holds. -#}
{% macro kpi_record_select(kpi_id, relation, record_kind, record_id, month, in_numerator, in_denominator, measure, where) -%}
    select
        cast('{{ kpi_id }}' as {{ dbt.type_string() }}) as kpi_id,
        {{ month }} as month,
        cast('{{ record_kind }}' as {{ dbt.type_string() }}) as record_kind,
        cast({{ record_id }} as {{ dbt.type_string() }}) as record_id,
        coalesce({{ in_numerator }}, false) as in_numerator,
        coalesce({{ in_denominator }}, false) as in_denominator,
        {{ measure if measure is not none else 'cast(null as ' ~ type_double() ~ ')' }} as measure
    from {{ relation }}
    where ({{ where }})
        and {{ kpi_window_filter(month) }}
{%- endmacro %}

{#- Records of a mean: the rows where `condition` holds and `measure` is known (in numerator and denominator). -#}
{% macro kpi_mean_records(kpi_id, relation, record_kind, record_id, month, measure, condition) -%}
    {{ kpi_record_select(kpi_id, relation, record_kind, record_id, month, 'true', 'true', measure,
        '(' ~ condition ~ ') and (' ~ measure ~ ') is not null') }}
{%- endmacro %}

{#- Records of a share: the denominator's rows, flagged when in the numerator; `measure` is the
    weight of a weighted share, else informative only. -#}
{% macro kpi_share_records(kpi_id, relation, record_kind, record_id, month, numerator, denominator, measure=none) -%}
    {{ kpi_record_select(kpi_id, relation, record_kind, record_id, month,
        '(' ~ numerator ~ ')', 'true', measure, denominator) }}
{%- endmacro %}

{#- Records of a count: the rows counted (numerator only; a count has no denominator). -#}
{% macro kpi_count_records(kpi_id, relation, record_kind, record_id, month, condition, measure=none) -%}
    {{ kpi_record_select(kpi_id, relation, record_kind, record_id, month, 'true', 'false', measure, condition) }}
{%- endmacro %}

{#- The value of a KPI from its records `r`, grouped by month, by aggregation. -#}
{% macro kpi_value_of(agg, delivered='true') -%}
    {%- if agg == 'mean' -%}
    cast(avg(case when r.in_numerator then r.measure end) as {{ type_double() }})
    {%- elif agg == 'share' -%}
    cast(
        {{ hundred() }} * count(case when r.in_denominator and r.in_numerator then 1 end)
        / nullif(count(case when r.in_denominator then 1 end), 0)
        as {{ type_double() }}
    )
    {%- elif agg == 'weighted_share' -%}
    cast(
        {{ hundred() }} * coalesce(sum(case when r.in_denominator and r.in_numerator then r.measure end), 0)
        / nullif(sum(case when r.in_denominator then r.measure end), 0)
        as {{ type_double() }}
    )
    {%- elif agg == 'count' -%}
    cast(case when {{ delivered }} then count(case when r.in_numerator then 1 end) end as {{ type_double() }})
    {%- elif agg == 'distinct_count' -%}
    cast(count(distinct case when r.in_numerator then r.record_id end) as {{ type_double() }})
    {%- elif agg == 'change_pct' -%}
    cast(
        {{ hundred() }} * (count(distinct case when r.in_numerator then r.record_id end)
            - count(distinct case when r.in_denominator then r.record_id end))
        / nullif(count(distinct case when r.in_denominator then r.record_id end), 0)
        as {{ type_double() }}
    )
    {%- elif agg == 'sla_rate' -%}
    cast(
        {{ hundred() }} * count(case when r.in_denominator and r.in_numerator then 1 end)
        / nullif(count(case when r.in_denominator then 1 end)
            + 0.5 * coalesce(sum(case when r.in_denominator then r.measure end), 0), 0)
        as {{ type_double() }}
    )
    {%- else -%}
    {{ exceptions.raise_compiler_error("kpi_aggregate: unknown aggregation " ~ agg) }}
    {%- endif -%}
{%- endmacro %}

{#- The n of a KPI from its records `r`, grouped by month, by aggregation (see docs/kpis.md, n). -#}
{% macro kpi_n_of(agg, delivered='true') -%}
    {%- if agg in ('mean', 'share', 'weighted_share', 'sla_rate') -%}
    cast(count(case when r.in_denominator then 1 end) as {{ dbt.type_bigint() }})
    {%- elif agg == 'count' -%}
    cast(case when {{ delivered }} then count(case when r.in_numerator then 1 end) end as {{ dbt.type_bigint() }})
    {%- elif agg == 'distinct_count' -%}
    cast(count(distinct case when r.in_numerator then r.record_id end) as {{ dbt.type_bigint() }})
    {%- elif agg == 'change_pct' -%}
    cast(
        case when count(distinct case when r.in_denominator then r.record_id end) > 0
            then count(distinct case when r.in_numerator then r.record_id end) end
        as {{ dbt.type_bigint() }}
    )
    {%- else -%}
    {{ exceptions.raise_compiler_error("kpi_aggregate: unknown aggregation " ~ agg) }}
    {%- endif -%}
{%- endmacro %}

{#-
    Long form (kpi_id, month, value, n) of the KPIs `kpis` (a list of
    {'id', 'agg', optional 'delivered'}), one row per KPI and month of the
    CTE `months`: `records` maps each KPI id to its records query. `feeds`:
    the delivery flags of `months` that a `delivered` expression reads.
-#}
{% macro kpi_aggregate(kpis, records, feeds=[]) -%}
    {%- for kpi in kpis %}
    select
        cast('{{ kpi.id }}' as {{ dbt.type_string() }}) as kpi_id,
        months.month,
        {{ kpi_value_of(kpi.agg, kpi.get('delivered', 'true')) }} as value,
        {{ kpi_n_of(kpi.agg, kpi.get('delivered', 'true')) }} as n
    from months
    left join (
        {{ records[kpi.id] }}
    ) as r
        on r.month = months.month
    group by months.month
    {%- for feed in feeds %}, months.{{ feed }}_delivered{% endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
{%- endmacro %}

{#- The records of each KPI of `kpis` on its own: {kpi_id: query}, from a records macro. -#}
{% macro kpi_records_by_kpi(records_macro, kpis, args) -%}
    {%- set out = {} -%}
    {%- for kpi in kpis -%}
        {%- do out.update({kpi.id: records_macro(*args, kpi_ids=[kpi.id])}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- Predicate on an evidence record (`records`: kpi_id, month): its KPI has a published row
    for the month that the quality gate did not withhold. -#}
{% macro evidence_published(records) -%}
    exists (
        select 1 from {{ ref('kpi_monthly').include(database=False) }} as published
        where published.kpi_id = {{ records }}.kpi_id
            and published.month = {{ records }}.month
            and published.quality not like 'withheld%'
    )
{%- endmacro %}
