-- One row per web session (a visitor's events with no gap over 30 minutes): its customer,
-- duration, activity and landing-page attribution (UTM and referrer of its first page view).
-- Incremental: sessions are aggregated from fct_web_events, and a build rebuilds every session
-- of each visitor whose events no longer match the stored sessions (new, reloaded or
-- re-attributed events, renumbered sessions), replacing that visitor's rows whole.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='visitor_id',
    on_schema_change='fail',
) }}

with web_events as (
    select * from {{ ref('fct_web_events') }}
),

{% if is_incremental() %}
    sessions_in_events as (
        select
            visitor_id,
            session_id,
            any_value(session_customer_id) as customer_id,
            count(*) as events,
            max(loaded_at) as events_loaded_through
        from web_events
        group by visitor_id, session_id
    ),

    sessions_built as (
        select
            visitor_id,
            session_id,
            customer_id,
            events,
            events_loaded_through
        from {{ this }}
    ),

    -- a session that differs on either side (or exists on one side only) rebuilds its visitor
    changed_visitors as (
        select coalesce(sessions_in_events.visitor_id, sessions_built.visitor_id) as visitor_id
        from sessions_in_events
        full outer join sessions_built on sessions_in_events.session_id = sessions_built.session_id
        where
            sessions_in_events.session_id is null
            or sessions_built.session_id is null
            or sessions_in_events.visitor_id is distinct from sessions_built.visitor_id
            or sessions_in_events.customer_id is distinct from sessions_built.customer_id
            or sessions_in_events.events != sessions_built.events
            or sessions_in_events.events_loaded_through is distinct from sessions_built.events_loaded_through
    ),
{% endif %}

events as (
    select * from web_events
    {% if is_incremental() %}
        where visitor_id in (select changed_visitors.visitor_id from changed_visitors)
    {% endif %}
),

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
    sessions.events_loaded_through
from sessions
