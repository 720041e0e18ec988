-- One row per (call_date, queue): volume, abandonment, wait and handle times, first-contact
-- resolution, CSAT and NPS.
with calls as (
    select * from {{ ref('fct_calls') }}
    where call_date <= {{ run_date() }}
),

-- the caller: the resolved customer, else the phone the call came from (PII, only used to match
-- repeat calls here); a call with neither cannot be matched to a repeat call, so it is its own caller
callers as (
    select
        calls.*,
        coalesce(
            'customer:' || calls.customer_id, 'phone:' || staged.caller_phone, 'call:' || calls.call_id
        ) as caller_key
    from calls
    left join {{ ref('stg_call_center__calls') }} as staged on calls.call_id = staged.call_id
),

-- resolved on first contact: answered and resolved (a call no agent answered, though marked resolved
-- later, was resolved on another contact), the same caller (any queue) had not called within
-- fcr_window_days before this call's start (else this call is a repeat of that contact, not a first
-- one), and did not call again (up to the run date) within fcr_window_days after it
calls_with_repeats as (
    select
        *,
        disposition = 'resolved'
        and is_answered
        and coalesce(
            lag(started_at) over caller_calls + to_days({{ var('fcr_window_days') }}) < started_at,
            true
        )
        and coalesce(
            lead(started_at) over caller_calls > started_at + to_days({{ var('fcr_window_days') }}),
            true
        ) as is_first_contact_resolution
    from callers
    window caller_calls as (partition by caller_key order by started_at, call_id)
)

select
    call_date,
    queue,
    count(*) as calls,
    count(*) filter (where is_answered) as answered_calls,
    count(*) filter (where disposition = 'abandoned') as abandoned_calls,
    round(count(*) filter (where disposition = 'abandoned') / count(*), 4) as abandonment_rate,
    round(count(*) filter (where disposition = 'resolved') / count(*), 4) as resolution_rate,
    round(avg(wait_seconds) filter (where is_answered), 1) as average_wait_seconds,
    round(avg(handle_seconds) filter (where is_answered), 1) as average_handle_seconds,
    round(avg(csat), 2) as average_csat,
    count(nps) as nps_responses,
    -- Net Promoter Score: % promoters (9-10) minus % detractors (0-6)
    round(
        100.0 * (count(*) filter (where nps >= 9) - count(*) filter (where nps <= 6))
        / nullif(count(nps), 0),
        1
    ) as net_promoter_score,
    count(distinct customer_id) as distinct_customers,
    count(*) filter (where is_first_contact_resolution) as first_contact_resolutions,
    round(count(*) filter (where is_first_contact_resolution) / nullif(count(*) filter (where is_answered), 0), 4)
        as first_contact_resolution_rate,
    -- a repeat call could still come after the run date and undo this day's resolutions
    call_date + {{ var('fcr_window_days') }} > {{ run_date() }} as is_first_contact_resolution_provisional
from calls_with_repeats
group by call_date, queue
