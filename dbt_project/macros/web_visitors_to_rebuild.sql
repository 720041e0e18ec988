{#-
  The visitors an incremental build of fct_web_events rebuilds (a pre-hook logs them for it and for
  fct_web_sessions, macros/change_log.sql): the visitors of raw events loaded after the last build,
  the old visitor of each reloaded message (it may have moved to another device), and the visitors
  with an event of a record whose customer changed, as logged by int_person_records_dated
  (without that log, or after its full build: every visitor with an event whose own customer is not
  the one identity now gives its record). Only for is_incremental(), in the context of fct_web_events.
-#}
{% macro web_events_loaded_since_last_build(columns) -%}
    {#- raw rows loaded after the last build, whole; a NULL load time cannot be ordered, so it always
        counts. Two selects, not one OR: DuckDB skips the row groups loaded before the last build
        only for the plain comparison. -#}
    select {{ columns }}
    from {{ ref('stg_web__events') }}
    where loaded_at > coalesce((select max(built.loaded_at) from {{ this }} as built), timestamp '-infinity')
    union all
    select {{ columns }}
    from {{ ref('stg_web__events') }}
    where loaded_at is null
{%- endmacro %}

{% macro web_visitors_to_rebuild() -%}
    {%- set compare_every_event = change_log_rebuilds_all('fct_web_events') %}
    with newly_loaded as materialized (
        {{ web_events_loaded_since_last_build(
            'web_event_id, ' ~ web_visitor_id('anonymous_id', 'user_record_id', 'web_event_id') ~ ' as visitor_id'
        ) }}
    )
    {%- if compare_every_event %},

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
    )
    {%- endif %}

    select newly_loaded.visitor_id from newly_loaded
    union
    -- a reloaded message may have moved to another visitor: its old visitor is rebuilt too
    select built.visitor_id
    from {{ this }} as built
    where built.web_event_id in (select newly_loaded.web_event_id from newly_loaded)
    union
    {% if compare_every_event -%}
        -- identity re-attributed one of the visitor's records (merge, split, new customer id)
        select built.visitor_id
        from {{ this }} as built
        left join user_customers on built.user_id = user_customers.user_id
        left join anonymous_customers on built.anonymous_id = anonymous_customers.anonymous_id
        where
            built.event_customer_id
            is distinct from coalesce(user_customers.customer_id, anonymous_customers.customer_id)
    {%- else -%}
        -- identity re-attributed one of the visitor's records (merge, split, new or gone record), as
        -- logged by int_person_records_dated: an anonymous record is its own visitor, a user record
        -- stands for the visitors of its events
        select substr(log_rows.rebuild_key, length('web|anon:') + 1) as visitor_id
        from ({{ logged_keys_to_rebuild('fct_web_events') }}) as log_rows
        where starts_with(log_rows.rebuild_key, 'web|anon:')
        union
        select built.visitor_id
        from {{ this }} as built
        where built.user_id in (
            select substr(log_rows.rebuild_key, length('web|user:') + 1)
            from ({{ logged_keys_to_rebuild('fct_web_events') }}) as log_rows
            where starts_with(log_rows.rebuild_key, 'web|user:')
        )
    {%- endif %}
{%- endmacro %}
