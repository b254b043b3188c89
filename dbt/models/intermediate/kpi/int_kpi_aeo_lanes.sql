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
    KPI group "Selectivity lanes for AEO trade": AEO declarations lodged in
    the month by their final lane (the lane row assigned last). A declaration
    without a lane row counts in no lane. The counts read the declarations and
    lanes feeds: null for a month in which either has no delivery. Records:
    macro kpi_records_aeo_lanes (also behind marts.kpi_evidence_aeo_lanes).
-#}
{%- set kpis = [
    {'id': 'aeo_green_lane', 'agg': 'count', 'delivered': '(months.declarations_delivered and months.lanes_delivered)'},
    {'id': 'aeo_yellow_lane', 'agg': 'count', 'delivered': '(months.declarations_delivered and months.lanes_delivered)'},
    {'id': 'aeo_red_lane', 'agg': 'count', 'delivered': '(months.declarations_delivered and months.lanes_delivered)'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_aeo_lanes, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months(['declarations', 'lanes']) }}

)

{{ kpi_aggregate(kpis, records, feeds=['declarations', 'lanes']) }}
