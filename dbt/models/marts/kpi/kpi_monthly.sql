{#-
    The scorecard: one row per catalog KPI and month of int_months, with the
    year-to-date value for KPIs of basis ytd, and the status against the
    year's target (kpi_targets) or, for the SLA KPIs, the service level
    reached (kpi_levels). Small: rebuilt whole from the per-month values of
    the int_kpi_* models on every run. A value that reads a feed-month the
    quality gate withholds (stg_quality_gate, the feeds of kpi_feeds) is null,
    and `quality` says why; otherwise `quality` is 'ok', or the override that
    let a failed feed-month through.
-#}
{%- set kpi_models = [
    'int_kpi_aeo_uptake',
    'int_kpi_aeo_trade_share',
    'int_kpi_release_time',
    'int_kpi_clearance_cost',
    'int_kpi_paperless',
    'int_kpi_aeo_lanes',
    'int_kpi_drawback',
    'int_kpi_import_inspection',
    'int_kpi_sla',
    'int_kpi_manual',
] -%}

with computed_values as (

    {% for model in kpi_models -%}
    select kpi_id, month, value, n from {{ ref(model) }}
    {% if not loop.last %}union all
    {% endif -%}
    {%- endfor %}

),

kpi_feeds as (

    select * from {{ ref('kpi_feeds') }}

),

gate as (

    select * from {{ ref('stg_quality_gate') }}

),

gate_notes as (

    select distinct kpi_feeds.kpi_id, gate.month, gate.state, gate.note
    from kpi_feeds
    inner join gate
        on gate.feed = kpi_feeds.feed

),

-- per KPI and month: why its value is withheld (a feed it reads failed its quality suite for
-- the month), or which override let a failed feed-month through
gate_by_kpi as (

    select
        kpi_id,
        month,
        {{ sorted_listagg("case when state = 'withheld' then note end", "'; '") }} as withheld_note,
        {{ sorted_listagg("case when state = 'override' then note end", "'; '") }} as override_note
    from gate_notes
    group by kpi_id, month

),

kpi_values as (

    select
        computed_values.kpi_id,
        computed_values.month,
        case when gate_by_kpi.withheld_note is null then computed_values.value end as value,
        case when gate_by_kpi.withheld_note is null then computed_values.n end as n,
        gate_by_kpi.withheld_note is not null as is_withheld,
        coalesce(gate_by_kpi.withheld_note, gate_by_kpi.override_note, 'ok') as quality
    from computed_values
    left join gate_by_kpi
        on gate_by_kpi.kpi_id = computed_values.kpi_id
        and gate_by_kpi.month = computed_values.month

),

months as (

    select month from {{ ref('int_months') }}

),

catalog as (

    select * from {{ ref('kpi_catalog') }}

),

targets as (

    select * from {{ ref('kpi_targets') }}

),

levels as (

    select * from {{ ref('kpi_levels') }}

),

with_ytd as (

    -- ytd_value (basis ytd only): the sum of the month values from January of
    -- the month's year to the month, over loaded months; months without a
    -- value (a withheld one too) add nothing; null while no month of the year
    -- so far has one, and null for a withheld month itself.
    select
        kpi_values.kpi_id,
        catalog.kpi_group,
        kpi_values.month,
        {{ kpi_year('kpi_values.month') }} as year,
        kpi_values.value,
        kpi_values.quality,
        case
            when catalog.basis = 'ytd' and not kpi_values.is_withheld then sum(kpi_values.value) over (
                partition by kpi_values.kpi_id, {{ kpi_year('kpi_values.month') }}
                order by kpi_values.month
                rows between unbounded preceding and current row
            )
        end as ytd_value,
        kpi_values.n,
        catalog.unit,
        catalog.direction,
        catalog.basis
    from kpi_values
    inner join months
        on months.month = kpi_values.month
    inner join catalog
        on catalog.kpi_id = kpi_values.kpi_id

),

with_basis as (

    select
        with_ytd.*,
        case when with_ytd.basis = 'ytd' then with_ytd.ytd_value else with_ytd.value end as basis_value
    from with_ytd

),

scored as (

    select
        with_basis.kpi_id,
        with_basis.kpi_group,
        with_basis.month,
        with_basis.value,
        with_basis.ytd_value,
        with_basis.n,
        with_basis.unit,
        with_basis.quality,
        targets.baseline,
        targets.target,
        case
            when with_basis.basis_value is null then null
            -- SLA KPIs: the best service level reached (inclusive), else below_minimum
            when levels.kpi_id is not null then
                case
                    when with_basis.direction = 'up' then
                        case
                            when with_basis.basis_value >= levels.goal then 'goal'
                            when with_basis.basis_value >= levels.basic then 'basic'
                            when with_basis.basis_value >= levels.minimum then 'minimum'
                            else 'below_minimum'
                        end
                    else
                        case
                            when with_basis.basis_value <= levels.goal then 'goal'
                            when with_basis.basis_value <= levels.basic then 'basic'
                            when with_basis.basis_value <= levels.minimum then 'minimum'
                            else 'below_minimum'
                        end
                end
            -- KPIs with a target for the year: met when the basis value reaches it (inclusive)
            when targets.target is not null then
                case
                    when with_basis.direction = 'up' and with_basis.basis_value >= targets.target then 'met'
                    when with_basis.direction = 'down' and with_basis.basis_value <= targets.target then 'met'
                    else 'not_met'
                end
        end as status,
        -- progress from the baseline towards the target, in percent, not capped
        case
            when targets.target <> targets.baseline then
                {{ hundred() }} * (with_basis.basis_value - targets.baseline) / (targets.target - targets.baseline)
        end as progress_pct
    from with_basis
    left join targets
        on targets.kpi_id = with_basis.kpi_id
        and targets.year = with_basis.year
    left join levels
        on levels.kpi_id = with_basis.kpi_id

)

select
    cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
    cast(kpi_group as {{ dbt.type_string() }}) as kpi_group,
    cast(month as date) as month,
    cast(value as {{ type_double() }}) as value,
    cast(ytd_value as {{ type_double() }}) as ytd_value,
    cast(n as {{ dbt.type_bigint() }}) as n,
    cast(unit as {{ dbt.type_string() }}) as unit,
    cast(baseline as {{ type_double() }}) as baseline,
    cast(target as {{ type_double() }}) as target,
    cast(status as {{ dbt.type_string() }}) as status,
    cast(progress_pct as {{ type_double() }}) as progress_pct,
    cast(quality as {{ dbt.type_string() }}) as quality
from scored
