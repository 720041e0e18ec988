-- One row per customer with web activity: session and page-view counts, first and last visit
-- and the acquisition channel and campaign (the channel and utm_campaign of the first session).
-- Reads the incremental fct_web_sessions mart rather than re-sessionising every event each night.
-- Only activity up to the end of the run date counts, like the other customer aggregates: sessions
-- started after it are left out, and a session that runs past it (past midnight, or into events
-- with a future timestamp) is cut there (its last event and page views before it, read from
-- fct_web_events for those few sessions only), so last_visit_at is never after the run date.
-- Incremental per customer (macros/incremental_customers.sql): only customers whose sessions
-- changed, moved to or from them, or entered the run date's window are aggregated again.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_customers_without_inputs() }}",
        "{{ log_recomputed_customers() }}",
    ],
) }}
{%- set input_columns = [
    'session_id', 'session_started_at', 'session_ended_at', 'page_views', 'channel', 'utm_campaign',
] %}

with sessions_started as (
    select
        customer_id,
        session_id,
        session_started_at,
        session_ended_at,
        page_views,
        channel,
        utm_campaign
    from {{ ref('fct_web_sessions') }}
    where customer_id is not null and session_started_at < {{ run_date_end() }}
),

-- sessions that run past the end of the run date (past midnight, or into events whose clock is
-- in the future)
sessions_past_run_date as (
    select
        session_id,
        session_started_at
    from sessions_started
    where session_ended_at >= {{ run_date_end() }}
),

-- their end and page views recounted from their events up to it; the lower bound on event_at
-- lets DuckDB skip the row groups of older events (there are usually none to recount)
sessions_cut_at_run_date as (
    select
        session_id,
        max(event_at) as session_ended_at,
        count(*) filter (where event_type = 'page') as page_views
    from {{ ref('fct_web_events') }}
    where
        event_at < {{ run_date_end() }}
        and event_at >= (select min(sessions_past_run_date.session_started_at) from sessions_past_run_date)
        and session_id in (select sessions_past_run_date.session_id from sessions_past_run_date)
    group by session_id
),

sessions as not materialized (
    select
        sessions_started.customer_id,
        sessions_started.session_id,
        sessions_started.session_started_at,
        coalesce(sessions_cut_at_run_date.session_ended_at, sessions_started.session_ended_at)
            as session_ended_at,
        coalesce(sessions_cut_at_run_date.page_views, sessions_started.page_views) as page_views,
        sessions_started.channel,
        sessions_started.utm_campaign
    from sessions_started
    left join sessions_cut_at_run_date on sessions_started.session_id = sessions_cut_at_run_date.session_id
),

{{ changed_customers_cte('sessions', input_columns) }}

aggregated as (
    select
        customer_id,
        count(*) as web_sessions,
        cast(sum(page_views) as bigint) as page_views,
        min(session_started_at) as first_visit_at,
        max(session_ended_at) as last_visit_at,
        arg_min(channel, (session_started_at, session_id)) as acquisition_channel,
        -- arg_min_null: the first session's campaign even when it has none (arg_min skips NULLs)
        arg_min_null(utm_campaign, (session_started_at, session_id)) as acquisition_campaign,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from sessions
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('aggregated') }}
