{#-
    Shares and rates are percentages in [0, 100]: every kpi_monthly value of
    a KPI whose unit is a percentage (except the signed change of active
    operators, which can be negative or above 100), and the 24-hour share of
    trs_monthly. Returns the rows out of range.
-#}

select
    'kpi_monthly' as model_name,
    kpi_id as item,
    month,
    value
from {{ ref('kpi_monthly') }}
where
    substr(unit, 1, 1) = '%'
    and kpi_id <> 'aeo_operators_change_pct'
    and (value < 0 or value > 100)

union all

select
    'trs_monthly' as model_name,
    'released_within_24h_share' as item,
    month,
    released_within_24h_share as value
from {{ ref('trs_monthly') }}
where released_within_24h_share < 0 or released_within_24h_share > 100
