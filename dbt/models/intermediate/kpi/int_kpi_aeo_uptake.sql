{#-
    KPI group "AEO programme uptake", computed KPIs (aeo_acceptance_rating is
    manual: int_kpi_manual). Everything here reads the latest snapshot of the
    AEO register, which restates the whole history, so the model is small and
    rebuilt whole on every run. Records: macro kpi_records_aeo_uptake (also
    behind marts.kpi_evidence_aeo_uptake, over marts.fct_aeo_applications and
    marts.fct_aeo_certificates).
-#}
{%- set kpis = [
    {'id': 'aeo_applications_received', 'agg': 'count'},
    {'id': 'aeo_applications_approved', 'agg': 'count'},
    {'id': 'aeo_active_operators', 'agg': 'distinct_count'},
    {'id': 'aeo_operators_change_pct', 'agg': 'change_pct'},
    {'id': 'aeo_authorisation_days', 'agg': 'mean'},
] -%}
{%- set records = kpi_records_by_kpi(kpi_records_aeo_uptake, kpis,
    [ref('int_aeo_register_latest'), ref('int_aeo_certificates'), ref('int_months')]) -%}

with months as (

    select month from {{ ref('int_months') }}

)

{{ kpi_aggregate(kpis, records) }}
