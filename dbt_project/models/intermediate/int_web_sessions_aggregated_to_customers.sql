-- One row per customer with web activity: session and page-view counts, first and last visit
-- and the acquisition channel (the channel of the customer's first session).
-- Reads the incremental fct_web_sessions mart rather than re-sessionising every event each night.
with sessions as (
    select * from {{ ref('fct_web_sessions') }}
    where customer_id is not null and session_started_at < {{ run_date_end() }}
)

select
    customer_id,
    count(*) as web_sessions,
    cast(sum(page_views) as bigint) as page_views,
    min(session_started_at) as first_visit_at,
    max(session_ended_at) as last_visit_at,
    arg_min(channel, (session_started_at, session_id)) as acquisition_channel
from sessions
group by customer_id
