-- One row per customer with at least one completed order: how overdue their next purchase is
-- compared with their own purchase rhythm, as a score and a low / medium / high band.
-- Reads the profiles under dim_customers, not the view itself: dim_customers adds the segment
-- list, which would cost a join with segment_memberships this model never uses.
with buyers as (
    select
        customer_id,
        lifetime_orders,
        first_purchase_at,
        last_purchase_at,
        days_since_last_purchase
    from {{ ref('int_customer_profiles_ranked') }}
    where lifetime_orders > 0
),

rhythm as (
    select
        *,
        -- one-time buyers get a 90-day expected gap (a quarter), repeat buyers their own average
        case
            when lifetime_orders >= 2
                then date_diff('day', first_purchase_at, last_purchase_at) / (lifetime_orders - 1)
            else 90
        end as expected_gap_days
    from buyers
),

scored as (
    select
        *,
        -- floor of 30 days so weekly shoppers are not flagged after one quiet week
        round(days_since_last_purchase / greatest(expected_gap_days, 30), 2) as churn_risk_score
    from rhythm
)

select
    customer_id,
    lifetime_orders,
    last_purchase_at,
    days_since_last_purchase,
    round(expected_gap_days, 1) as expected_gap_days,
    churn_risk_score,
    -- banded from the published (rounded) score, so a score of 1.50 is never 'low'
    case
        when churn_risk_score >= 3 then 'high'
        when churn_risk_score >= 1.5 then 'medium'
        else 'low'
    end as churn_risk_band,
    {{ run_date() }} as as_of_date
from scored
