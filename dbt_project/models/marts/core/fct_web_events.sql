-- One row per web event (Segment message), with its session and resolved customer.
-- Incremental: each build recomputes every event of the visitors that changed since the last
-- build (new or reloaded raw events, or a customer_map change for one of their records,
-- macros/web_visitors_to_rebuild.sql) and replaces those rows by web_event_id. A visitor is rebuilt
-- over its whole history because session numbers count from the visitor's first event, so a late
-- event can renumber them. The pre-hook logs the visitors for fct_web_sessions
-- (macros/change_log.sql), and this build rebuilds the logged ones: tonight's, and those of a night
-- whose fct_web_sessions did not build.
-- Only the rows loaded since the last build are read from staging whole; a rebuilt visitor's
-- older events come from this table, whose event columns were computed from the same raw rows
-- (reading them from raw again decompressed every wide column, the JSON payloads included, of
-- every raw row: the rows to rebuild are spread over the whole table).
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='web_event_id',
    on_schema_change='fail',
    pre_hook="{{ log_keys_to_rebuild('fct_web_sessions', web_visitors_to_rebuild()) }}",
    post_hook="{{ clear_change_log('fct_web_events') }}",
) }}
-- depends_on: {{ ref('int_person_records_dated') }} (its log of re-attributed records)

{#- the staging columns the sessionisation and the final select read -#}
{%- set event_columns = [
    'web_event_id', 'event_type', 'event_name', 'page_name', 'event_at', 'user_id', 'anonymous_id',
    'page_url', 'page_path', 'page_title', 'page_referrer', 'campaign_source', 'campaign_medium',
    'campaign_name', 'order_id', 'order_revenue', 'order_currency', 'properties', 'batch_id',
    'loaded_at',
] %}

with
{% if is_incremental() %}
    newly_loaded as materialized (
        {{ web_events_loaded_since_last_build(
            event_columns | join(', ') ~ ', user_record_id, anonymous_record_id'
        ) }}
    ),

    changed_visitors as (
        {{ logged_keys_to_rebuild('fct_web_sessions') }}
    ),

    -- the changed visitors' events: every newly loaded one (its visitor is logged by definition),
    -- plus their stored events that were not loaded again and whose raw row is still there.
    -- Materialised: the sessionisation reads it twice, and it is small (the changed visitors).
    events_to_sessionise as materialized (
        select * from newly_loaded
        where event_at is not null
        union all by name
        select
            {% for column in event_columns -%}
                built.{{ column }},
            {% endfor -%}
            'user:' || built.user_id as user_record_id,
            'anon:' || built.anonymous_id as anonymous_record_id
        from {{ this }} as built
        semi join changed_visitors on built.visitor_id = changed_visitors.rebuild_key
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
    {{ sessionise_web_events(
        'events_to_sessionise', ref('stg_identity__customer_records'), only_their_records=is_incremental()
    ) }}
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
    loaded_at,
    {{ build_started_at() }} as written_at
from events
