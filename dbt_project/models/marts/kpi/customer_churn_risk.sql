-- One row per customer with at least one completed order: how overdue their next purchase is
-- compared with their own purchase rhythm, as a score and a low / medium / high band.
-- The score is computed once, in int_customer_profiles_ranked (the profile dim_customers and the
-- segment conditions read, so the at_risk_of_churn segment uses the same definition); this mart
-- only selects the buyers. Reads the profiles, not dim_customers: dim_customers adds the segment
-- list, which would cost a join with segment_memberships this model never uses.
select
    customer_id,
    lifetime_orders,
    last_purchase_at,
    days_since_last_purchase,
    expected_gap_days,
    churn_risk_score,
    churn_risk_band,
    as_of_date
from {{ ref('int_customer_profiles_ranked') }}
where lifetime_orders > 0
