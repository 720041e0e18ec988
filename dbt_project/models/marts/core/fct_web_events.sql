-- One row per web event (Segment message), with its session and resolved customer.
-- Incremental: each build recomputes every event of the visitors that changed since the last
-- build (new or reloaded raw events, or a customer_map change for one of their records) and
-- replaces those rows by web_event_id. A visitor is rebuilt over its whole history because
-- session numbers count from the visitor's first event, so a late event can renumber them.
-- Only the rows loaded since the last build are read from staging whole; a rebuilt visitor's
-- older events come from this table, whose event columns were computed from the same raw rows
-- (reading them from raw again decompressed every wide column, the JSON payloads included, of
-- every raw row: the rows to rebuild are spread over the whole table).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='web_event_id',
    on_schema_change='fail',
) }}

{#- the staging columns the sessionisation and the final select read -#}
{%- set event_columns = [
    'web_event_id', 'event_type', 'event_name', 'page_name', 'event_at', 'user_id', 'anonymous_id',
    'page_url', 'page_path', 'page_title', 'page_referrer', 'campaign_source', 'campaign_medium',
    'campaign_name', 'order_id', 'order_revenue', 'order_currency', 'properties', 'batch_id',
    'loaded_at',
] %}

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

    -- raw rows loaded after the last build, whole; a NULL load time cannot be ordered, so it always
    -- counts. Two selects, not one OR: DuckDB skips the row groups loaded before the last build
    -- only for the plain comparison.
    newly_loaded as materialized (
        select
            {{ event_columns | join(', ') }}, user_record_id, anonymous_record_id,
            {{ web_visitor_id('anonymous_id', 'user_record_id', 'web_event_id') }} as visitor_id
        from {{ ref('stg_web__events') }}
        where loaded_at > coalesce((select max(built.loaded_at) from {{ this }} as built), timestamp '-infinity')
        union all
        select
            {{ event_columns | join(', ') }}, user_record_id, anonymous_record_id,
            {{ web_visitor_id('anonymous_id', 'user_record_id', 'web_event_id') }} as visitor_id
        from {{ ref('stg_web__events') }}
        where loaded_at is null
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

    -- the changed visitors' events: every newly loaded one (its visitor is changed by definition),
    -- plus their stored events that were not loaded again and whose raw row is still there.
    -- Materialised: the sessionisation reads it twice, and it is small (the changed visitors).
    events_to_sessionise as materialized (
        select * exclude (visitor_id) from newly_loaded
        where event_at is not null
        union all by name
        select
            {% for column in event_columns -%}
                built.{{ column }},
            {% endfor -%}
            'user:' || built.user_id as user_record_id,
            'anon:' || built.anonymous_id as anonymous_record_id
        from {{ this }} as built
        semi join changed_visitors on built.visitor_id = changed_visitors.visitor_id
        anti join newly_loaded on built.web_event_id = newly_loaded.web_event_id
        semi join {{ ref('stg_web__events') }} as still_loaded
            on built.web_event_id = still_loaded.web_event_id
    ),
{% else %}
    events_to_sessionise as not materialized (
        select * from {{ ref('stg_web__events') }}
        where event_at is not null
    ),
{% endif %}

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
