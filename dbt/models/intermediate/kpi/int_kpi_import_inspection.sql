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
    KPI group "Risk management: detection results of import inspection":
    how many IM declarations of the month end in the RED lane (final lane row)
    and how often those inspections find something, overall and in the
    random sample. n = the denominator's declarations. Records: macro
    kpi_records_import_inspection (also behind marts.kpi_evidence_import_inspection).
-#}
{%- set kpis = [
    {'id': 'import_inspection_rate', 'agg': 'share'},
    {'id': 'import_detection_rate', 'agg': 'share'},
    {'id': 'import_detection_rate_random', 'agg': 'share'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_import_inspection, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months() }}

)

{{ kpi_aggregate(kpis, records) }}
