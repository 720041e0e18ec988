-- One row per customer with web activity: session and page-view counts, first and last visit
-- and the acquisition channel (the channel of the customer's first session).
-- Reads the incremental fct_web_sessions mart rather than re-sessionising every event each night.
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
    'session_id', 'session_started_at', 'session_ended_at', 'page_views', 'channel',
] %}

with sessions as not materialized (
    select
        customer_id,
        session_id,
        session_started_at,
        session_ended_at,
        page_views,
        channel
    from {{ ref('fct_web_sessions') }}
    where customer_id is not null and session_started_at < {{ run_date_end() }}
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
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from sessions
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('aggregated') }}
