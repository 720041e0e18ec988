-- One row per acquisition channel (channel of a customer's first web session): customers
-- acquired, how many bought, conversion rate and revenue.
-- Reads the profiles under dim_customers, not the view itself: dim_customers adds the segment
-- list, which would cost a join with segment_memberships this model never uses.
with customers as (
    select * from {{ ref('int_customer_profiles_ranked') }}
    where acquisition_channel is not null
)

select
    acquisition_channel,
    count(*) as customers,
    count(*) filter (where lifetime_orders > 0) as buying_customers,
    round(count(*) filter (where lifetime_orders > 0) / count(*), 4) as conversion_rate,
    cast(sum(lifetime_revenue) as decimal(14, 2)) as lifetime_revenue,
    cast(sum(lifetime_revenue) / count(*) as decimal(14, 2)) as revenue_per_customer,
    cast(avg(web_sessions) as decimal(10, 2)) as average_web_sessions,
    {{ run_date() }} as as_of_date
from customers
group by acquisition_channel
