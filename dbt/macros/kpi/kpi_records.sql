{#-
    The records behind each computed KPI, one macro per KPI group (see
    kpi_evidence.sql for the row shape and how each aggregation reads it).
    Every relation is an argument: the int_kpi_<group> model passes the work
    tables, the view marts.kpi_evidence_<group> the published ones. Column
    names are those of the published fact tables (fct_declarations,
    fct_drawback_claims, fct_tickets, fct_aeo_applications,
    fct_aeo_certificates, fct_manual_values). `kpi_ids`: the KPIs wanted
    (none: all of the group). Each KPI's definition sits under its id.
-#}

{#- Time to clear goods (AEO trade), over declarations. -#}
{% macro kpi_records_release_time(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {%- set released = 'released_at is not null' -%}
    {#- time_to_import_aeo: mean hours lodged -> released, IM by AEOs, released -#}
    {%- if kpi_wanted('time_to_import_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('time_to_import_aeo', declarations, 'declaration', 'declaration_id', 'month',
        'hours_lodged_to_release', "declaration_type = 'IM' and is_aeo and " ~ released)) -%}
    {%- endif -%}
    {#- time_to_export_aeo: the same for EX -#}
    {%- if kpi_wanted('time_to_export_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('time_to_export_aeo', declarations, 'declaration', 'declaration_id', 'month',
        'hours_lodged_to_release', "declaration_type = 'EX' and is_aeo and " ~ released)) -%}
    {%- endif -%}
    {#- time_to_transit_aeo: the same for TR -#}
    {%- if kpi_wanted('time_to_transit_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('time_to_transit_aeo', declarations, 'declaration', 'declaration_id', 'month',
        'hours_lodged_to_release', "declaration_type = 'TR' and is_aeo and " ~ released)) -%}
    {%- endif -%}
    {#- time_to_import_non_aeo: the same for IM by non-AEOs -#}
    {%- if kpi_wanted('time_to_import_non_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('time_to_import_non_aeo', declarations, 'declaration', 'declaration_id', 'month',
        'hours_lodged_to_release', "declaration_type = 'IM' and not is_aeo and " ~ released)) -%}
    {%- endif -%}
    {#- released_within_24h_share: 100 x released at most 24 h after lodgement / all declarations
        (one not released counts in the denominator only); measure: hours lodged -> released -#}
    {%- if kpi_wanted('released_within_24h_share', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('released_within_24h_share', declarations, 'declaration', 'declaration_id', 'month',
        'hours_lodged_to_release <= 24', 'declaration_id is not null', measure='hours_lodged_to_release')) -%}
    {%- endif -%}
    {#- pre_arrival_release_share: 100 x released strictly before arrival / IM with both times;
        measure: hours arrival -> released -#}
    {%- if kpi_wanted('pre_arrival_release_share', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('pre_arrival_release_share', declarations, 'declaration', 'declaration_id', 'month',
        'released_at < arrival_at', "declaration_type = 'IM' and arrival_at is not null and " ~ released,
        measure='hours_arrival_to_release')) -%}
    {%- endif -%}
    {#- release_time_arrival_to_release: mean hours arrival -> released, IM of all traders with both times -#}
    {%- if kpi_wanted('release_time_arrival_to_release', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('release_time_arrival_to_release', declarations, 'declaration', 'declaration_id', 'month',
        'hours_arrival_to_release', "declaration_type = 'IM' and arrival_at is not null and " ~ released)) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- AEO involvement in trade, over declarations: weighted by customs value. -#}
{% macro kpi_records_aeo_trade_share(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {#- aeo_trade_share_<region>: 100 x AEO trade value with a partner in the region / all trade value;
        aeo_trade_share_total: 100 x AEO trade value / all trade value (the sum of the four) -#}
    {%- for kpi_id, numerator in [
        ('aeo_trade_share_central_asia', "is_aeo and coalesce(region, 'other') = 'central_asia'"),
        ('aeo_trade_share_eu_us', "is_aeo and coalesce(region, 'other') = 'eu_us'"),
        ('aeo_trade_share_east_asia', "is_aeo and coalesce(region, 'other') = 'east_asia'"),
        ('aeo_trade_share_other', "is_aeo and coalesce(region, 'other') = 'other'"),
        ('aeo_trade_share_total', 'is_aeo'),
    ] -%}
    {%- if kpi_wanted(kpi_id, kpi_ids) -%}
    {%- do parts.append(kpi_share_records(kpi_id, declarations, 'declaration', 'declaration_id', 'month',
        numerator, 'is_trade', measure='customs_value')) -%}
    {%- endif -%}
    {%- endfor -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- Cost to clear goods (AEO trade), over declarations: mean clearance_cost where reported. -#}
{% macro kpi_records_clearance_cost(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {%- for kpi_id, declaration_type in [
        ('cost_to_import_aeo', 'IM'),
        ('cost_to_export_aeo', 'EX'),
        ('cost_to_transit_aeo', 'TR'),
    ] -%}
    {%- if kpi_wanted(kpi_id, kpi_ids) -%}
    {%- do parts.append(kpi_mean_records(kpi_id, declarations, 'declaration', 'declaration_id', 'month',
        'clearance_cost', "declaration_type = '" ~ declaration_type ~ "' and is_aeo")) -%}
    {%- endif -%}
    {%- endfor -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- Paperless customs declarations, over declarations. -#}
{% macro kpi_records_paperless(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {#- paperless_declarations_catN: paperless declarations of category N -#}
    {%- for category in [4, 3, 2, 1] -%}
    {%- set kpi_id = 'paperless_declarations_cat' ~ category -%}
    {%- if kpi_wanted(kpi_id, kpi_ids) -%}
    {%- do parts.append(kpi_count_records(kpi_id, declarations, 'declaration', 'declaration_id', 'month',
        'category = ' ~ category ~ ' and is_paperless')) -%}
    {%- endif -%}
    {%- endfor -%}
    {#- paperless_share: 100 x paperless / all declarations lodged in the month -#}
    {%- if kpi_wanted('paperless_share', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('paperless_share', declarations, 'declaration', 'declaration_id', 'month',
        'is_paperless', 'declaration_id is not null')) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- Selectivity lanes for AEO trade, over declarations (final lane). -#}
{% macro kpi_records_aeo_lanes(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {#- aeo_<lane>_lane: AEO declarations whose final lane is the lane -#}
    {%- for lane in ['GREEN', 'YELLOW', 'RED'] -%}
    {%- set kpi_id = 'aeo_' ~ (lane | lower) ~ '_lane' -%}
    {%- if kpi_wanted(kpi_id, kpi_ids) -%}
    {%- do parts.append(kpi_count_records(kpi_id, declarations, 'declaration', 'declaration_id', 'month',
        "is_aeo and final_lane = '" ~ lane ~ "'")) -%}
    {%- endif -%}
    {%- endfor -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- Processing of drawback, over drawback claims (month of lodgement). -#}
{% macro kpi_records_drawback(claims, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {#- drawback_claims_aeo / _non_aeo: claims lodged in the month by AEOs / non-AEOs;
        measure: days lodged -> decided -#}
    {%- if kpi_wanted('drawback_claims_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('drawback_claims_aeo', claims, 'claim', 'claim_id', 'lodged_month',
        'is_aeo', measure='days_to_decision')) -%}
    {%- endif -%}
    {%- if kpi_wanted('drawback_claims_non_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('drawback_claims_non_aeo', claims, 'claim', 'claim_id', 'lodged_month',
        'not is_aeo', measure='days_to_decision')) -%}
    {%- endif -%}
    {#- drawback_days_aeo / _non_aeo: mean days lodged -> decided, claims of the month that are decided -#}
    {%- if kpi_wanted('drawback_days_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('drawback_days_aeo', claims, 'claim', 'claim_id', 'lodged_month',
        'days_to_decision', 'is_aeo and decided_at is not null')) -%}
    {%- endif -%}
    {%- if kpi_wanted('drawback_days_non_aeo', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('drawback_days_non_aeo', claims, 'claim', 'claim_id', 'lodged_month',
        'days_to_decision', 'not is_aeo and decided_at is not null')) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#- Risk management: detection results of import inspection, over IM declarations (final lane row). -#}
{% macro kpi_records_import_inspection(declarations, kpi_ids=none) -%}
    {%- set parts = [] -%}
    {%- set detected = "final_finding in ('DISCREPANCY', 'SEIZURE')" -%}
    {#- import_inspection_rate: 100 x IM with final lane RED / all IM -#}
    {%- if kpi_wanted('import_inspection_rate', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('import_inspection_rate', declarations, 'declaration', 'declaration_id', 'month',
        "final_lane = 'RED'", "declaration_type = 'IM'")) -%}
    {%- endif -%}
    {#- import_detection_rate: 100 x RED with finding DISCREPANCY or SEIZURE / RED with a finding -#}
    {%- if kpi_wanted('import_detection_rate', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('import_detection_rate', declarations, 'declaration', 'declaration_id', 'month',
        detected, "declaration_type = 'IM' and final_lane = 'RED' and final_finding is not null")) -%}
    {%- endif -%}
    {#- import_detection_rate_random: the same over final RED rows selected at RANDOM -#}
    {%- if kpi_wanted('import_detection_rate_random', kpi_ids) -%}
    {%- do parts.append(kpi_share_records('import_detection_rate_random', declarations, 'declaration', 'declaration_id', 'month',
        detected, "declaration_type = 'IM' and final_lane = 'RED' and final_selection = 'RANDOM' and final_finding is not null")) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#-
    Single Window service levels, over tickets and declarations. Months are
    cut in the administration's time zone.
-#}
{% macro kpi_records_sla(tickets, declarations, kpi_ids=none) -%}
    {%- set tz = admin_time_zone() -%}
    {%- set parts = [] -%}
    {#- sla_timely_processing_rate: service requests due in the month (whatever month opened);
        on time: resolved no later than due (numerator); measure: delay days, rounded up, to the
        resolution or, still open, to the end of the month (first instant of the next local month);
        100 x on time / (due + 0.5 x sum of delay days) -#}
    {%- if kpi_wanted('sla_timely_processing_rate', kpi_ids) -%}
    {%- set scheduled -%}
    (
        select
            ticket_id,
            due_month,
            resolved_at is not null and resolved_at <= due_at as is_on_time,
            case
                when resolved_at is not null and resolved_at <= due_at then 0
                else ceil({{ epoch_seconds_between('due_at', 'coalesce(resolved_at, month_end)') }} / 86400)
            end as delay_days
        from (
            select
                ticket_id,
                due_at,
                resolved_at,
                due_month,
                {{ kpi_local_to_utc(dbt.dateadd('month', 1, 'due_month'), tz) }} as month_end
            from (
                select ticket_id, due_at, resolved_at, {{ kpi_local_month('due_at', tz) }} as due_month
                from {{ tickets }}
                where ticket_type = 'SERVICE_REQUEST'
                    and due_at is not null
            ) as due
        ) as bounded
    ) as scheduled
    {%- endset -%}
    {%- do parts.append(kpi_share_records('sla_timely_processing_rate', scheduled, 'ticket', 'ticket_id', 'due_month',
        'is_on_time', 'true', measure='delay_days')) -%}
    {%- endif -%}
    {#- edoc_processing_seconds_export: mean edoc_seconds of EX lodged in the month, where reported -#}
    {%- if kpi_wanted('edoc_processing_seconds_export', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('edoc_processing_seconds_export', declarations, 'declaration', 'declaration_id', 'month',
        'edoc_seconds', "declaration_type = 'EX'")) -%}
    {%- endif -%}
    {#- system_failures: FAILURE tickets opened in the month -#}
    {%- if kpi_wanted('system_failures', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('system_failures', tickets, 'ticket', 'ticket_id', kpi_local_month('opened_at', tz),
        "ticket_type = 'FAILURE'")) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#-
    AEO programme uptake, over the latest register snapshot (applications and
    the certificates they grant) and `months` (relation with a `month`
    column: the loaded months; the active-operator KPIs are defined on them).
-#}
{% macro kpi_records_aeo_uptake(applications, certificates, months, kpi_ids=none) -%}
    {%- set tz = admin_time_zone() -%}
    {%- set parts = [] -%}
    {#- aeo_applications_received: applications submitted in the month (local time) -#}
    {%- if kpi_wanted('aeo_applications_received', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('aeo_applications_received', applications, 'application', 'application_id',
        kpi_local_month('submitted_at', tz), 'application_id is not null')) -%}
    {%- endif -%}
    {#- aeo_applications_approved: APPROVED applications decided in the month -#}
    {%- if kpi_wanted('aeo_applications_approved', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('aeo_applications_approved', applications, 'application', 'application_id',
        kpi_local_month('decided_at', tz), "decision = 'APPROVED'")) -%}
    {%- endif -%}
    {#- aeo_authorisation_days: mean days submitted -> decided, APPROVED or REJECTED decided in the month -#}
    {%- if kpi_wanted('aeo_authorisation_days', kpi_ids) -%}
    {%- do parts.append(kpi_mean_records('aeo_authorisation_days', applications, 'application', 'application_id',
        kpi_local_month('decided_at', tz), epoch_seconds_between('submitted_at', 'decided_at') ~ ' / 86400',
        "decision in ('APPROVED', 'REJECTED')")) -%}
    {%- endif -%}
    {%- set active -%}
    (
        -- traders that are AEO on the last day of a loaded month
        -- (valid_from <= day < valid_until, valid_until = least(valid_to, revoked_at))
        select distinct
            loaded.month,
            certificates.trader_id
        from (
            select
                month,
                cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', 1, 'month')) }} as date) as last_day
            from {{ months }}
        ) as loaded
        inner join {{ certificates }} as certificates
            on {{ aeo_certificate_valid_on('certificates', 'loaded.last_day') }}
    )
    {%- endset -%}
    {#- aeo_active_operators: distinct traders that are AEO on the month's last day -#}
    {%- if kpi_wanted('aeo_active_operators', kpi_ids) -%}
    {%- do parts.append(kpi_count_records('aeo_active_operators', active ~ ' as active', 'operator', 'trader_id',
        'month', 'true')) -%}
    {%- endif -%}
    {#- aeo_operators_change_pct: 100 x (operators now - a year before) / a year before: the operators
        at the month's end (numerator) and at the end of the same month a year earlier, when that
        month is loaded (denominator); null where none a year before -#}
    {%- if kpi_wanted('aeo_operators_change_pct', kpi_ids) -%}
    {%- set both -%}
    (
        select
            coalesce(now_active.month, year_before.month) as month,
            coalesce(now_active.trader_id, year_before.trader_id) as trader_id,
            now_active.trader_id is not null as is_now,
            year_before.trader_id is not null as is_year_before
        from {{ active }} as now_active
        full outer join (
            select
                cast({{ dbt.dateadd('month', 12, 'earlier.month') }} as date) as month,
                earlier.trader_id
            from {{ active }} as earlier
            inner join {{ months }} as later
                on later.month = cast({{ dbt.dateadd('month', 12, 'earlier.month') }} as date)
        ) as year_before
            on year_before.month = now_active.month
            and year_before.trader_id = now_active.trader_id
    ) as both_dates
    {%- endset -%}
    {%- do parts.append(kpi_record_select('aeo_operators_change_pct', both, 'operator', 'trader_id', 'month',
        'is_now', 'is_year_before', none, 'true')) -%}
    {%- endif -%}
    {{ kpi_union_records(parts) }}
{%- endmacro %}

{#-
    Manual KPIs (catalog source = manual): the row of the manual feed that
    delivered the month's value, named by file and line; `catalog` is the
    KPI catalog, `manual_values` the delivered rows (kpi_id, month, value,
    source_file, source_line).
-#}
{% macro kpi_records_manual(manual_values, catalog) -%}
    {%- set delivered -%}
    (
        select
            lower(manual_values.kpi_id) as kpi_id,
            manual_values.month,
            manual_values.value,
            manual_values.source_file,
            manual_values.source_line
        from {{ manual_values }} as manual_values
        inner join {{ catalog }} as catalog
            on catalog.kpi_id = lower(manual_values.kpi_id)
            and catalog.source = 'manual'
    ) as delivered
    {%- endset %}
    select
        cast(kpi_id as {{ dbt.type_string() }}) as kpi_id,
        month,
        cast('manual_row' as {{ dbt.type_string() }}) as record_kind,
        cast({{ dbt.concat(['source_file', "':'", 'cast(source_line as ' ~ dbt.type_string() ~ ')']) }} as {{ dbt.type_string() }}) as record_id,
        true as in_numerator,
        false as in_denominator,
        value as measure
    from {{ delivered }}
{%- endmacro %}
