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
    KPI group "Processing of drawback": claims lodged in the month, split by
    whether the claimant was an AEO on the local date of lodgement, and the
    mean days to a decision. Counts are null for a month without a drawback
    delivery. Records: macro kpi_records_drawback (also behind
    marts.kpi_evidence_drawback, over marts.fct_drawback_claims).
-#}
{%- set kpis = [
    {'id': 'drawback_claims_aeo', 'agg': 'count', 'delivered': 'months.drawback_delivered'},
    {'id': 'drawback_claims_non_aeo', 'agg': 'count', 'delivered': 'months.drawback_delivered'},
    {'id': 'drawback_days_aeo', 'agg': 'mean'},
    {'id': 'drawback_days_non_aeo', 'agg': 'mean'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_drawback, kpis, [ref('int_drawback_claims')]) -%}

with months as (

    {{ kpi_months(['drawback']) }}

)

{{ kpi_aggregate(kpis, records, feeds=['drawback']) }}
