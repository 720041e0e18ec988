-- One row per (call_date, queue): volume, abandonment, wait and handle times, CSAT and NPS.
with calls as (
    select * from {{ ref('fct_calls') }}
    where call_date <= {{ run_date() }}
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
    count(distinct customer_id) as distinct_customers
from calls
group by call_date, queue
