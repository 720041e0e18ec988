-- One row per web event (Segment message), with its session and resolved customer.
-- Incremental: each build recomputes every event of the visitors that changed since the last
-- build (new or reloaded raw events, or a customer_map change for one of their records) and
-- replaces those rows by web_event_id. A visitor is rebuilt over its whole history because
-- session numbers count from the visitor's first event, so a late event can renumber them.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='web_event_id',
    on_schema_change='fail',
) }}

with
{% if is_incremental() %}
    -- the web records' customers keyed by the bare userId / anonymousId, so the events are
    -- joined on their own columns: prefixing every event with 'user:' / 'anon:' to match
    -- source_record_id cost a string per event, twice, each night
    web_customers as (
        select
            source_record_id,
            customer_id
        from {{ ref('stg_identity__customer_records') }}
        where source_system = 'web'
    ),

    user_customers as (
        select
            substr(source_record_id, 6) as user_id,
            customer_id
        from web_customers
        where starts_with(source_record_id, 'user:')
    ),

    anonymous_customers as (
        select
            substr(source_record_id, 6) as anonymous_id,
            customer_id
        from web_customers
        where starts_with(source_record_id, 'anon:')
    ),

    -- raw rows loaded after the last build; a NULL load time cannot be ordered, so it always counts
    newly_loaded as (
        select
            web_event_id,
            {{ web_visitor_id('anonymous_id', 'user_record_id', 'web_event_id') }} as visitor_id
        from {{ ref('stg_web__events') }}
        where
            loaded_at > coalesce((select max(built.loaded_at) from {{ this }} as built), timestamp '-infinity')
            or loaded_at is null
    ),

    changed_visitors as (
        select newly_loaded.visitor_id from newly_loaded
        union
        -- a reloaded message may have moved to another visitor: its old visitor is rebuilt too
        select built.visitor_id
        from {{ this }} as built
        where built.web_event_id in (select newly_loaded.web_event_id from newly_loaded)
        union
        -- identity re-attributed one of the visitor's records (merge, split, new customer id)
        select built.visitor_id
        from {{ this }} as built
        left join user_customers on built.user_id = user_customers.user_id
        left join anonymous_customers on built.anonymous_id = anonymous_customers.anonymous_id
        where
            built.event_customer_id
            is distinct from coalesce(user_customers.customer_id, anonymous_customers.customer_id)
    ),
{% endif %}

events_to_sessionise as not materialized (
    select * from {{ ref('stg_web__events') }}
    where
        event_at is not null
        {% if is_incremental() %}
            and {{ web_visitor_id('anonymous_id', 'user_record_id', 'web_event_id') }}
            in (select changed_visitors.visitor_id from changed_visitors)
        {% endif %}
),

events as (
    {{ sessionise_web_events('events_to_sessionise', ref('stg_identity__customer_records')) }}
)

select
    web_event_id,
    session_id,
    visitor_id,
    session_number,
    coalesce(customer_id, session_customer_id) as customer_id,
    customer_id as event_customer_id,
    session_customer_id,
    event_type,
    event_name,
    page_name,
    event_at,
    user_id,
    anonymous_id,
    page_url,
    page_path,
    page_title,
    page_referrer,
    campaign_source,
    campaign_medium,
    campaign_name,
    order_id,
    order_revenue,
    order_currency,
    properties,
    batch_id,
    loaded_at
from events
