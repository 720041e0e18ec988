-- One row per calendar day from the first completed order up to the run date: revenue, orders,
-- AOV, active / new / returning purchasers, web sessions and the cumulative repeat-purchase rate.
-- Revenue and AOV are in the reporting currency (var('reporting_currency'), int_currency_rates_to_reporting):
-- an order whose currency has no rate is counted in orders and orders_without_rate, not in revenue.
with orders as (
    select
        fct_orders.*,
        fct_orders.total_amount * rates.rate_to_reporting as total_amount_reporting
    from {{ ref('fct_orders') }} as fct_orders
    left join {{ ref('int_currency_rates_to_reporting') }} as rates on fct_orders.currency = rates.currency
    where fct_orders.is_completed and fct_orders.order_date <= {{ run_date() }}
),

days as (
    select cast(unnest(generate_series(min(order_date), {{ run_date() }}, interval 1 day)) as date) as kpi_date
    from orders
),

-- the dates of each customer's first and second completed purchase (a per-customer aggregate,
-- not a window sorting every order)
customer_first_purchases as (
    select arg_min(order_date, (ordered_at, order_id, order_channel), 2) as purchase_dates
    from orders
    where customer_id is not null
    group by customer_id
),

milestones as (
    select
        kpi_date,
        count(*) filter (where purchase_number = 1) as first_purchases,
        count(*) filter (where purchase_number = 2) as second_purchases
    from (
        select
            unnest(purchase_dates) as kpi_date,
            generate_subscripts(purchase_dates, 1) as purchase_number
        from customer_first_purchases
    ) as purchase_milestones
    group by kpi_date
),

daily_orders as (
    select
        order_date as kpi_date,
        count(*) as orders,
        sum(total_amount_reporting) as revenue,
        count(*) filter (where total_amount_reporting is null) as orders_without_rate,
        count(distinct customer_id) as active_customers
    from orders
    group by order_date
),

daily_sessions as (
    select
        session_date as kpi_date,
        count(*) as web_sessions
    from {{ ref('fct_web_sessions') }}
    group by session_date
),

joined as (
    select
        days.kpi_date,
        coalesce(daily_orders.orders, 0) as orders,
        cast(coalesce(daily_orders.revenue, 0) as decimal(14, 2)) as revenue,
        coalesce(daily_orders.orders_without_rate, 0) as orders_without_rate,
        coalesce(daily_orders.active_customers, 0) as active_customers,
        -- a customer is new on the day of their first purchase
        coalesce(milestones.first_purchases, 0) as new_customers,
        coalesce(daily_sessions.web_sessions, 0) as web_sessions,
        sum(coalesce(milestones.first_purchases, 0)) over (order by days.kpi_date) as buyers_to_date,
        sum(coalesce(milestones.second_purchases, 0)) over (order by days.kpi_date) as repeat_buyers_to_date
    from days
    left join daily_orders on days.kpi_date = daily_orders.kpi_date
    left join daily_sessions on days.kpi_date = daily_sessions.kpi_date
    left join milestones on days.kpi_date = milestones.kpi_date
)

select
    kpi_date,
    orders,
    revenue,
    cast(revenue / nullif(orders - orders_without_rate, 0) as decimal(14, 2)) as average_order_value,
    orders_without_rate,
    '{{ var("reporting_currency") | upper }}' as reporting_currency,
    active_customers,
    new_customers,
    active_customers - new_customers as returning_customers,
    web_sessions,
    cast(buyers_to_date as bigint) as buyers_to_date,
    cast(repeat_buyers_to_date as bigint) as repeat_buyers_to_date,
    round(repeat_buyers_to_date / nullif(buyers_to_date, 0), 4) as repeat_purchase_rate
from joined
