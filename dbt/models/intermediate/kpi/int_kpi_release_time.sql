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
    KPI group "Time to clear goods (AEO trade)": release times of the
    declarations lodged in the month, in elapsed hours (signed intervals from
    fct_declarations), and the shares released quickly or before arrival.
    Each KPI is defined by its records (macro kpi_records_release_time, also
    behind the view marts.kpi_evidence_release_time) and aggregated here.
-#}
{%- set kpis = [
    {'id': 'time_to_import_aeo', 'agg': 'mean'},
    {'id': 'time_to_export_aeo', 'agg': 'mean'},
    {'id': 'time_to_transit_aeo', 'agg': 'mean'},
    {'id': 'time_to_import_non_aeo', 'agg': 'mean'},
    {'id': 'released_within_24h_share', 'agg': 'share'},
    {'id': 'pre_arrival_release_share', 'agg': 'share'},
    {'id': 'release_time_arrival_to_release', 'agg': 'mean'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_release_time, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months() }}

)

{{ kpi_aggregate(kpis, records) }}
