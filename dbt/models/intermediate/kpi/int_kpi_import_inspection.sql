{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Risk management: detection results of import inspection":
    how many IM declarations of the month end in the RED lane (final lane row)
    and how often those inspections find something, overall and in the
    random sample. n = the denominator's declarations.
-#}
{%- set kpi_ids = [
    'import_inspection_rate',
    'import_detection_rate',
    'import_detection_rate_random',
] -%}

with months as (

    {{ kpi_months() }}

),

imports as (

    select
        month,
        final_lane,
        final_selection,
        final_finding
    from {{ ref('fct_declarations') }}
    where declaration_type = 'IM'
        and {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- import_inspection_rate: 100 x IM with final lane RED / all IM
        {{ kpi_share('import_inspection_rate', "i.final_lane = 'RED'", 'i.month is not null') }},
        -- import_detection_rate: 100 x RED with finding DISCREPANCY or SEIZURE / RED with a finding
        {{ kpi_share('import_detection_rate', "i.final_finding in ('DISCREPANCY', 'SEIZURE')",
            "i.final_lane = 'RED' and i.final_finding is not null") }},
        -- import_detection_rate_random: the same over final RED rows selected at RANDOM
        {{ kpi_share('import_detection_rate_random', "i.final_finding in ('DISCREPANCY', 'SEIZURE')",
            "i.final_lane = 'RED' and i.final_selection = 'RANDOM' and i.final_finding is not null") }}
    from months
    left join imports as i
        on i.month = months.month
    group by months.month

)

{{ kpi_unpivot('monthly', kpi_ids) }}
