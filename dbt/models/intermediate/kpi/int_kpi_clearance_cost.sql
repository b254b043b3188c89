{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        partition_by=month_partition('month'),
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Cost to clear goods (AEO trade)": mean clearance fees and
    charges per AEO declaration of the type lodged in the month, over the
    declarations that report a cost. Records: macro kpi_records_clearance_cost
    (also behind marts.kpi_evidence_clearance_cost).
-#}
{%- set kpis = [
    {'id': 'cost_to_import_aeo', 'agg': 'mean'},
    {'id': 'cost_to_export_aeo', 'agg': 'mean'},
    {'id': 'cost_to_transit_aeo', 'agg': 'mean'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_clearance_cost, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months() }}

)

{{ kpi_aggregate(kpis, records) }}
