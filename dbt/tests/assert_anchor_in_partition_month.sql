{#-
    Every event row's anchor falls, in the administration time zone, in the
    month folder it was loaded from. A failure means the loader and the
    warehouse cut months differently: CUSTOMS_KPI_TZ changed since the load,
    or the two use time-zone databases of different ages.
-#}
{{ config(severity='error') }}

with mismatches as (

    select 'declarations' as feed, declaration_id as row_id, partition_month, lodged_month as anchor_month
    from {{ ref('stg_declarations') }}
    where {{ month_window_filter('partition_month') }}

    union all

    select 'lanes' as feed, declaration_id, partition_month, assigned_month
    from {{ ref('stg_lanes') }}
    where {{ month_window_filter('partition_month') }}

    union all

    select 'drawback' as feed, claim_id, partition_month, lodged_month
    from {{ ref('stg_drawback') }}
    where {{ month_window_filter('partition_month') }}

    union all

    select 'tickets' as feed, ticket_id, partition_month, opened_month
    from {{ ref('stg_tickets') }}
    where {{ month_window_filter('partition_month') }}

)

select *
from mismatches
where partition_month <> anchor_month
