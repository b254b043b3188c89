{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Cost to clear goods (AEO trade)": mean clearance fees and
    charges per AEO declaration of the type lodged in the month, over the
    declarations that report a cost.
-#}
{%- set kpi_ids = [
    'cost_to_import_aeo',
    'cost_to_export_aeo',
    'cost_to_transit_aeo',
] -%}

with months as (

    {{ kpi_months() }}

),

declarations as (

    select
        month,
        declaration_type,
        is_aeo,
        clearance_cost
    from {{ ref('fct_declarations') }}
    where {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- cost_to_import_aeo: mean clearance_cost, IM by AEOs, cost reported
        {{ kpi_mean('cost_to_import_aeo', 'd.clearance_cost', "d.declaration_type = 'IM' and d.is_aeo") }},
        -- cost_to_export_aeo: the same for EX
        {{ kpi_mean('cost_to_export_aeo', 'd.clearance_cost', "d.declaration_type = 'EX' and d.is_aeo") }},
        -- cost_to_transit_aeo: the same for TR
        {{ kpi_mean('cost_to_transit_aeo', 'd.clearance_cost', "d.declaration_type = 'TR' and d.is_aeo") }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month

)

{{ kpi_unpivot('monthly', kpi_ids) }}
