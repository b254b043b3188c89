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
    KPI group "AEO involvement in trade": the share of the month's trade value
    (customs value of IM and EX declarations lodged in the month) declared by
    AEOs, per partner region and in total. n = trade declarations. Records:
    macro kpi_records_aeo_trade_share (also behind marts.kpi_evidence_aeo_trade_share).
-#}
{%- set kpis = [
    {'id': 'aeo_trade_share_central_asia', 'agg': 'weighted_share'},
    {'id': 'aeo_trade_share_eu_us', 'agg': 'weighted_share'},
    {'id': 'aeo_trade_share_east_asia', 'agg': 'weighted_share'},
    {'id': 'aeo_trade_share_other', 'agg': 'weighted_share'},
    {'id': 'aeo_trade_share_total', 'agg': 'weighted_share'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_aeo_trade_share, kpis, [ref('fct_declarations')]) -%}

with months as (

    {{ kpi_months() }}

)

{{ kpi_aggregate(kpis, records) }}
