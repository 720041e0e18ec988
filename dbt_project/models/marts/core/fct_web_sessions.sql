-- One row per web session (a visitor's events with no gap over 30 minutes): its customer,
-- duration, activity and landing-page attribution (UTM and referrer of its first page view).
-- Incremental: sessions are aggregated from fct_web_events, and a build rebuilds every session
-- of each visitor whose events no longer match the stored sessions (new, reloaded or
-- re-attributed events, renumbered sessions), replacing that visitor's rows whole. A visitor left
-- without events gets a marker row (visitor_id only), which replaces its sessions and which the
-- post-hook deletes.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='visitor_id',
    on_schema_change='fail',
    post_hook="{{ delete_row_markers('session_id') }}",
) }}

with web_events as (
    select * from {{ ref('fct_web_events') }}
),

{% if is_incremental() %}
    -- Per visitor, from its events and from its stored sessions: the events, when they were last
    -- loaded, and a sum of hash(session, customer) over the events (a session row stands for
    -- `events` of them). Any new, lost, reloaded, renumbered or re-attributed event moves one of
    -- the three. Visitors are grouped by the hash of their id, much cheaper than by the text over
    -- every event; two visitors sharing a hash are only both rebuilt.
    visitors_in_events as (
        select
            hash(visitor_id) as visitor_hash,
            count(*) as events,
            max(loaded_at) as events_loaded_through,
            sum(cast(hash(session_id, session_customer_id) as hugeint)) as sessions_fingerprint
        from web_events
        group by visitor_hash
    ),

    visitors_built as (
        select
            hash(visitor_id) as visitor_hash,
            sum(events) as events,
            max(events_loaded_through) as events_loaded_through,
            sum(events * cast(hash(session_id, customer_id) as hugeint)) as sessions_fingerprint
        from {{ this }}
        group by visitor_hash
    ),

    changed_visitor_hashes as (
        select coalesce(visitors_in_events.visitor_hash, visitors_built.visitor_hash) as visitor_hash
        from visitors_in_events
        full outer join visitors_built on visitors_in_events.visitor_hash = visitors_built.visitor_hash
        where
            visitors_in_events.visitor_hash is null
            or visitors_built.visitor_hash is null
            or visitors_in_events.events != visitors_built.events
            or visitors_in_events.events_loaded_through is distinct from visitors_built.events_loaded_through
            or visitors_in_events.sessions_fingerprint != visitors_built.sessions_fingerprint
    ),
{% endif %}

events as (
    select * from web_events
    {% if is_incremental() %}
        where hash(visitor_id) in (select changed_visitor_hashes.visitor_hash from changed_visitor_hashes)
    {% endif %}
),

{% if is_incremental() %}
    -- stored visitors to rebuild that have no event left
    visitors_without_events as (
        select distinct built.visitor_id
        from {{ this }} as built
        semi join changed_visitor_hashes on hash(built.visitor_id) = changed_visitor_hashes.visitor_hash
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
    sessions.events_loaded_through
from sessions
{%- if is_incremental() %}
    union all by name
    select visitors_without_events.visitor_id
    from visitors_without_events
{%- endif %}
