-- One row per web event, with the customer it resolves to and the session it belongs to.
-- A session is a visitor's run of events with no gap longer than
-- var('session_inactivity_minutes') (30 by default); the rule is macros/sessionise_web_events.sql.
with events as (
    select * from {{ ref('stg_web__events') }}
    where event_at is not null
),

sessionised as (
    {{ sessionise_web_events('events', ref('stg_identity__customer_records')) }}
)

select * from sessionised
