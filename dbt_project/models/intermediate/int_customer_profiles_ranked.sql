-- One row per resolved customer: int_customer_profiles_joined plus the columns that change every
-- night for every customer (the run date, days since, the revenue percentile among buyers, the
-- churn risk). A view, so the per-customer table underneath stays incremental and no score is
-- ever stale; dim_customers, int_segment_members_evaluated and customer_churn_risk read it.
with profiles as (
    select * exclude (inputs_fingerprint) from {{ ref('int_customer_profiles_joined') }}
),

dated as (
    select
        *,
        {{ run_date() }} as as_of_date,
        -- share of buyers whose lifetime revenue is at most this customer's (cume_dist: the top
        -- buyer, and all tied with them, 1; > 0.8 = fewer than 20% of buyers have more, so the top
        -- 20% is never empty: percent_rank gave a sole buyer 0 and three tied at the top of ten
        -- 0.78); null for a customer without revenue: ranked among everyone, the many who never
        -- bought would push nearly every buyer into the top 20%
        case
            when lifetime_revenue > 0
                then cume_dist() over (partition by lifetime_revenue > 0 order by lifetime_revenue)
        end as revenue_percentile,
        date_diff('day', cast(last_purchase_at as date), {{ run_date() }}) as days_since_last_purchase,
        date_diff('day', cast(last_seen_at as date), {{ run_date() }}) as days_since_last_seen,
        -- the customer's purchase rhythm: a repeat buyer's average gap between purchases, a
        -- one-time buyer's a quarter (90 days); unrounded, the score divides by it
        case
            when lifetime_orders >= 2
                then date_diff('day', first_purchase_at, last_purchase_at) / (lifetime_orders - 1)
            when lifetime_orders = 1 then 90
        end as purchase_gap_days
    from profiles
),

scored as (
    select
        *,
        -- floor of 30 days so weekly shoppers are not flagged after one quiet week
        round(days_since_last_purchase / greatest(purchase_gap_days, 30), 2) as churn_risk_score
    from dated
)

select
    * exclude (purchase_gap_days, churn_risk_score),
    round(purchase_gap_days, 1) as expected_gap_days,
    churn_risk_score,
    -- banded from the published (rounded) score, so a score of 1.50 is never 'low'
    case
        when churn_risk_score >= 3 then 'high'
        when churn_risk_score >= 1.5 then 'medium'
        when churn_risk_score is not null then 'low'
    end as churn_risk_band
from scored
