-- One row per resolved customer: int_customer_profiles_joined plus the columns that change every
-- night for every customer (the run date, days since, the revenue percentile among buyers). A
-- view, so the per-customer table underneath stays incremental; dim_customers and
-- int_segment_members_evaluated each read it once.
with profiles as (
    select * exclude (inputs_fingerprint) from {{ ref('int_customer_profiles_joined') }}
)

select
    *,
    {{ run_date() }} as as_of_date,
    -- share of buyers with lower lifetime revenue (0 = lowest, 1 = highest); null for a customer
    -- without revenue: ranked among everyone, the many who never bought would push nearly every
    -- buyer into the top 20%
    case
        when lifetime_revenue > 0
            then percent_rank() over (partition by lifetime_revenue > 0 order by lifetime_revenue)
    end as revenue_percentile,
    date_diff('day', cast(last_purchase_at as date), {{ run_date() }}) as days_since_last_purchase,
    date_diff('day', cast(last_seen_at as date), {{ run_date() }}) as days_since_last_seen
from profiles
