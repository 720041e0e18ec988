-- One row per web session (a visitor's events with no gap over 30 minutes): its customer,
-- duration, activity and landing-page attribution (UTM and referrer of its first page view).
-- Incremental: sessions are aggregated from fct_web_events, and a build rebuilds every session of
-- each visitor that fct_web_events logged as rebuilt (macros/change_log.sql: new, reloaded or
-- re-attributed events, renumbered sessions, including the nights this model did not build),
-- replacing that visitor's rows whole; without a log, or after a full build of fct_web_events, it
-- rebuilds every visitor. A visitor left without events gets a marker row (visitor_id only), which
-- replaces its sessions and which the post-hook deletes.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='visitor_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_row_markers('session_id') }}",
        "{{ clear_change_log('fct_web_sessions') }}",
    ],
) }}

with web_events as (
    select * from {{ ref('fct_web_events') }}
),

{% if is_incremental() %}
    changed_visitors as (
        {% if change_log_rebuilds_all('fct_web_sessions') -%}
            select web_events.visitor_id as rebuild_key from web_events
            union
            select built.visitor_id from {{ this }} as built
        {%- else -%}
            {{ logged_keys_to_rebuild('fct_web_sessions') }}
        {%- endif %}
    ),
{% endif %}

events as (
    select * from web_events
    {% if is_incremental() %}
        where visitor_id in (select changed_visitors.rebuild_key from changed_visitors)
    {% endif %}
),

{% if is_incremental() %}
    -- stored visitors to rebuild that have no event left
    visitors_without_events as (
        select distinct built.visitor_id
        from {{ this }} as built
        semi join changed_visitors on built.visitor_id = changed_visitors.rebuild_key
        anti join events on built.visitor_id = events.visitor_id
    ),
{% endif %}

sessions as (
    select
        session_id,
        any_value(visitor_id) as visitor_id,
        any_value(session_number) as session_number,
        any_value(session_customer_id) as customer_id,
        min(event_at) as session_started_at,
        max(event_at) as session_ended_at,
        count(*) as events,
        count(*) filter (where event_type = 'page') as page_views,
        count(*) filter (where event_name = 'Product Viewed') as products_viewed,
        count(distinct order_id) filter (where event_name = 'Order Completed') as orders_completed,
        max(loaded_at) as events_loaded_through,
        -- the landing page is the first page view; sessions without one fall back to the first event
        arg_min(
            struct_pack(
                campaign_source, campaign_medium, campaign_name, page_referrer, page_path
            ),
            (event_type != 'page', event_at, web_event_id)
        ) as landing
    from events
    group by session_id
)

select
    sessions.session_id,
    sessions.visitor_id,
    sessions.session_number,
    sessions.customer_id,
    sessions.session_started_at,
    sessions.session_ended_at,
    cast(sessions.session_started_at as date) as session_date,
    date_diff('second', sessions.session_started_at, sessions.session_ended_at) as duration_seconds,
    sessions.events,
    sessions.page_views,
    sessions.products_viewed,
    sessions.orders_completed,
    sessions.orders_completed > 0 as has_converted,
    sessions.landing.page_path as landing_page_path,
    sessions.landing.page_referrer as referrer,
    sessions.landing.campaign_source as utm_source,
    sessions.landing.campaign_medium as utm_medium,
    sessions.landing.campaign_name as utm_campaign,
    {{ classify_channel(
        'sessions.landing.campaign_source',
        'sessions.landing.campaign_medium',
        'sessions.landing.page_referrer',
    ) }} as channel,
    sessions.session_number = 1 as is_first_visit,
    sessions.events_loaded_through,
    {{ build_started_at() }} as written_at
from sessions
{%- if is_incremental() %}
    union all by name
    select visitors_without_events.visitor_id
    from visitors_without_events
{%- endif %}
