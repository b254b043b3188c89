{#-
    Predicate on fct_declarations rows that an incremental run must rebuild
    besides the window's months: declarations whose raw partition is in the
    window, and stored rows whose cross-feed fields no longer match their
    sources (lanes that arrived in a later month's folder, a register snapshot
    that changed a certificate, an edited region seed).
-#}
{% macro fct_declarations_outdated() -%}
    declaration_id in (
        select declaration_id
        from {{ ref('stg_declarations') }}
        where {{ month_window_filter('partition_month') }}
    )
    or declaration_id in (
        with stored as (
            select
                declaration_id,
                trader_id,
                lodged_date_local,
                partner_country,
                region,
                is_aeo,
                first_lane,
                final_lane,
                final_selection,
                final_finding,
                lane_rows
            from {{ this }}
        ),

        current_aeo as (
            select
                stored.declaration_id,
                count(certificates.application_id) > 0 as is_aeo
            from stored
            left join {{ ref('int_aeo_certificates') }} as certificates
                on certificates.trader_id = stored.trader_id
                and {{ aeo_certificate_valid_on('certificates', 'stored.lodged_date_local') }}
            group by stored.declaration_id
        )

        select stored.declaration_id
        from stored
        inner join current_aeo
            on current_aeo.declaration_id = stored.declaration_id
        left join {{ ref('int_declaration_lanes') }} as lanes
            on lanes.declaration_id = stored.declaration_id
        left join {{ ref('country_regions') }} as regions
            on regions.country_code = stored.partner_country
        where stored.is_aeo <> current_aeo.is_aeo
            or stored.region is distinct from regions.region
            or stored.first_lane is distinct from lanes.first_lane
            or stored.final_lane is distinct from lanes.final_lane
            or stored.final_selection is distinct from lanes.final_selection
            or stored.final_finding is distinct from lanes.final_finding
            or stored.lane_rows <> coalesce(lanes.lane_rows, 0)
    )
{%- endmacro %}
