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
    KPI group "Single Window service levels" (the SLA of the clearance
    system): service requests completed on time, e-document processing time
    of export declarations, and system failures. Months are cut in the
    administration's time zone. Records: macro kpi_records_sla (also behind
    marts.kpi_evidence_sla, over marts.fct_tickets and marts.fct_declarations).
-#}
{%- set kpis = [
    {'id': 'sla_timely_processing_rate', 'agg': 'sla_rate'},
    {'id': 'edoc_processing_seconds_export', 'agg': 'mean'},
    {'id': 'system_failures', 'agg': 'count', 'delivered': 'months.tickets_delivered'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_sla, kpis, [ref('stg_tickets'), ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months(['tickets']) }}

)

{{ kpi_aggregate(kpis, records, feeds=['tickets']) }}
