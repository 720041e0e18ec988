-- One row per acquisition channel and campaign (the channel and utm_campaign of a customer's first
-- web session): the customers whose first web session came through it (visitors), those of them
-- it acquired (the session was their first trace in any source: no store account, order, call or
-- list record on an earlier day), and the acquired customers' purchases, conversion rate and revenue.
-- A customer already known before their first visit is a visitor of the channel, not one it
-- acquired: their earlier purchases are not the channel's.
-- Reads the profiles under dim_customers, not the view itself: dim_customers adds the segment
-- list, which would cost a join with segment_memberships this model never uses.
with customers as (
    select
        acquisition_channel,
        coalesce(acquisition_campaign, '(none)') as acquisition_campaign,
        -- first_seen_at is the earliest trace in any source, the first visit included; compared by
        -- day, as list records are dated by day (a sign-up list of the visit's day, dated at its
        -- midnight, would otherwise take the customer away from the visit that brought them)
        cast(first_visit_at as date) <= cast(first_seen_at as date) as is_acquired,
        lifetime_orders,
        lifetime_revenue,
        web_sessions
    from {{ ref('int_customer_profiles_ranked') }}
    where acquisition_channel is not null
),

per_campaign as (
    select
        acquisition_channel,
        acquisition_campaign,
        count(*) as visitors,
        count(*) filter (where is_acquired) as customers,
        count(*) filter (where is_acquired and lifetime_orders > 0) as buying_customers,
        coalesce(sum(lifetime_revenue) filter (where is_acquired), 0) as lifetime_revenue,
        avg(web_sessions) filter (where is_acquired) as average_web_sessions
    from customers
    group by acquisition_channel, acquisition_campaign
)

select
    acquisition_channel,
    acquisition_campaign,
    visitors,
    customers,
    buying_customers,
    round(buying_customers / nullif(customers, 0), 4) as conversion_rate,
    cast(lifetime_revenue as decimal(14, 2)) as lifetime_revenue,
    cast(lifetime_revenue / nullif(customers, 0) as decimal(14, 2)) as revenue_per_customer,
    cast(average_web_sessions as decimal(10, 2)) as average_web_sessions,
    {{ run_date() }} as as_of_date
from per_campaign
