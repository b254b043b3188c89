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
    KPI group "Paperless customs declarations": paperless declarations lodged
    in the month per category (counts: null for a month without a
    declarations delivery), and the paperless share of all of them. Records:
    macro kpi_records_paperless (also behind marts.kpi_evidence_paperless).
-#}
{%- set kpis = [
    {'id': 'paperless_declarations_cat4', 'agg': 'count', 'delivered': 'months.declarations_delivered'},
    {'id': 'paperless_declarations_cat3', 'agg': 'count', 'delivered': 'months.declarations_delivered'},
    {'id': 'paperless_declarations_cat2', 'agg': 'count', 'delivered': 'months.declarations_delivered'},
    {'id': 'paperless_declarations_cat1', 'agg': 'count', 'delivered': 'months.declarations_delivered'},
    {'id': 'paperless_share', 'agg': 'share'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_paperless, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months(['declarations']) }}

)

{{ kpi_aggregate(kpis, records, feeds=['declarations']) }}
