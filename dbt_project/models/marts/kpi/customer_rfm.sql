-- One row per customer with at least one completed order: recency / frequency / monetary values,
-- scores 1-5 (5 = best) and the classic RFM group they put the customer in.
-- A score is 1 + floor(5 * the share of the other buyers this one strictly beats), capped at 5
-- (percent_rank, ordered worst first: most days since the last order, fewest orders, least
-- revenue). Equal values share a score, so every one-order customer has frequency score 1; ntile
-- split ties by customer id and labelled some one-time buyers loyal or at risk.
-- Reads the profiles under dim_customers, not the view itself: dim_customers adds the segment
-- list, which would cost a join with segment_memberships this model never uses.
with buyers as (
    select
        customer_id,
        days_since_last_purchase as recency_days,
        lifetime_orders as frequency,
        lifetime_revenue as monetary
    from {{ ref('int_customer_profiles_ranked') }}
    where lifetime_orders > 0
),

scored as (
    select
        *,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by recency_days desc))) as bigint) as recency_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by frequency))) as bigint) as frequency_score,
        cast(least(5, 1 + floor(5 * percent_rank() over (order by monetary))) as bigint) as monetary_score
    from buyers
)

select
    customer_id,
    recency_days,
    frequency,
    monetary,
    recency_score,
    frequency_score,
    monetary_score,
    cast(recency_score as varchar) || cast(frequency_score as varchar) || cast(monetary_score as varchar)
        as rfm_code,
    case
        when recency_score >= 4 and frequency_score >= 4 then 'champions'
        when recency_score >= 3 and frequency_score >= 3 then 'loyal'
        when recency_score >= 4 and frequency_score <= 2 then 'promising'
        when recency_score <= 2 and frequency_score >= 3 then 'at_risk'
        else 'hibernating'
    end as rfm_group,
    {{ run_date() }} as as_of_date
from scored
