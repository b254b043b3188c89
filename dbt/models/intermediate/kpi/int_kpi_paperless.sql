{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ delete_month_window('month') }}"
    )
}}
{#-
    KPI group "Paperless customs declarations": paperless declarations lodged
    in the month per category (counts: null for a month without a
    declarations delivery), and the paperless share of all of them.
-#}
{%- set kpi_ids = [
    'paperless_declarations_cat4',
    'paperless_declarations_cat3',
    'paperless_declarations_cat2',
    'paperless_declarations_cat1',
    'paperless_share',
] -%}

with months as (

    {{ kpi_months(['declarations']) }}

),

declarations as (

    select
        month,
        declaration_id,
        category,
        is_paperless
    from {{ ref('fct_declarations') }}
    where {{ kpi_window_filter('month') }}

),

monthly as (

    select
        months.month,
        -- paperless_declarations_cat4: paperless declarations of category 4 (high value)
        {{ kpi_count('paperless_declarations_cat4', 'd.category = 4 and d.is_paperless', 'months.declarations_delivered') }},
        -- paperless_declarations_cat3: the same, category 3 (low value, dutiable)
        {{ kpi_count('paperless_declarations_cat3', 'd.category = 3 and d.is_paperless', 'months.declarations_delivered') }},
        -- paperless_declarations_cat2: the same, category 2 (low value, non-dutiable)
        {{ kpi_count('paperless_declarations_cat2', 'd.category = 2 and d.is_paperless', 'months.declarations_delivered') }},
        -- paperless_declarations_cat1: the same, category 1 (postal, documents)
        {{ kpi_count('paperless_declarations_cat1', 'd.category = 1 and d.is_paperless', 'months.declarations_delivered') }},
        -- paperless_share: 100 x paperless / all declarations lodged in the month
        {{ kpi_share('paperless_share', 'd.is_paperless', 'd.declaration_id is not null') }}
    from months
    left join declarations as d
        on d.month = months.month
    group by months.month, months.declarations_delivered

)

{{ kpi_unpivot('monthly', kpi_ids) }}
