-- One row per resolved customer: int_customer_profiles_joined plus the columns that change every
-- night for every customer (the run date, days since, the revenue percentile among all
-- customers). A view, so the per-customer table underneath stays incremental; dim_customers and
-- int_segment_members_evaluated each read it once.
with profiles as (
    select * exclude (inputs_fingerprint) from {{ ref('int_customer_profiles_joined') }}
)

select
    *,
    {{ run_date() }} as as_of_date,
    -- share of customers with lower lifetime revenue (0 = lowest, 1 = highest)
    percent_rank() over (order by lifetime_revenue) as revenue_percentile,
    date_diff('day', cast(last_purchase_at as date), {{ run_date() }}) as days_since_last_purchase,
    date_diff('day', cast(last_seen_at as date), {{ run_date() }}) as days_since_last_seen
from profiles
