-- One row per customer with at least one completed order: recency / frequency / monetary values,
-- quintile scores (5 = best) and the classic RFM group they put the customer in.
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
        ntile(5) over (order by recency_days desc, customer_id asc) as recency_score,
        ntile(5) over (order by frequency, customer_id) as frequency_score,
        ntile(5) over (order by monetary, customer_id) as monetary_score
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
