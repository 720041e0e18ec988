{#-
  The sessionisation rule, as one query over `events` (a relation or CTE name with the columns of
  stg_web__events) and `customer_records` (stg_identity__customer_records): each event gets its
  customer, its visitor and its session - a visitor's run of events with no gap longer than
  var('session_inactivity_minutes'). A macro so that int_web_events_sessionised (all events) and
  the incremental fct_web_events (only the visitors to rebuild, filtered before the window
  functions, which DuckDB cannot push a semi-join through) share one definition.
  `only_their_records`: keep only the web records the events name before joining. For a few
  events (an incremental build), so that the four joins below do not each build a hash table of
  every web record; over all events it would only add a step.
-#}
{% macro sessionise_web_events(events, customer_records, only_their_records=false) -%}
    with web_customer_records as (
        select
            source_record_id,
            customer_id
        from {{ customer_records }}
        where
            source_system = 'web'
            {%- if only_their_records %}
                and source_record_id in (
                    select event_records.user_record_id from {{ events }} as event_records
                    union
                    select event_records.anonymous_record_id from {{ events }} as event_records
                )
            {%- endif %}
    ),

    -- not materialized: the window branch reads only four of its columns, and materialising
    -- the CTE would copy every wide event row once more
    events_with_customers as not materialized (
        select
            events.*,
            -- the identified user wins; an anonymous id resolves through its own person record
            coalesce(user_records.customer_id, anonymous_records.customer_id) as customer_id,
            {{ web_visitor_id('events.anonymous_id', 'events.user_record_id', 'events.web_event_id') }}
                as visitor_id
        from {{ events }} as events
        left join web_customer_records as user_records
            on events.user_record_id = user_records.source_record_id
        left join web_customer_records as anonymous_records
            on events.anonymous_record_id = anonymous_records.source_record_id
    ),

    -- The window functions run over four narrow columns and the result is joined back to the
    -- events by web_event_id: carrying the wide payload (properties JSON, URLs) through the
    -- window sorts made them several times slower.
    gaps as (
        select
            web_event_id,
            visitor_id,
            event_at,
            customer_id,
            lag(event_at) over (
                partition by visitor_id order by event_at, web_event_id
            ) as previous_event_at
        from events_with_customers
    ),

    session_starts as (
        select
            *,
            case
                when previous_event_at is null then 1
                when event_at - previous_event_at
                    > interval ({{ var('session_inactivity_minutes') }}) minute then 1
                else 0
            end as is_session_start
        from gaps
    ),

    numbered as (
        select
            *,
            cast(sum(is_session_start) over (
                partition by visitor_id
                order by event_at, web_event_id
                rows between unbounded preceding and current row
            ) as bigint) as session_number
        from session_starts
    ),

    -- an identify part-way through a session attributes the whole session: the session's
    -- first resolved customer, as a plain aggregate per session
    session_customers as (
        select
            visitor_id,
            session_number,
            arg_min(customer_id, (event_at, web_event_id)) filter (
                where customer_id is not null
            ) as session_customer_id
        from numbered
        group by visitor_id, session_number
    )

    select
        events_with_customers.*,
        numbered.previous_event_at,
        numbered.is_session_start,
        numbered.session_number,
        md5(numbered.visitor_id || '|' || cast(numbered.session_number as varchar)) as session_id,
        session_customers.session_customer_id
    from events_with_customers
    inner join numbered on events_with_customers.web_event_id = numbered.web_event_id
    inner join session_customers
        on
            numbered.visitor_id = session_customers.visitor_id
            and numbered.session_number = session_customers.session_number
{%- endmacro %}
