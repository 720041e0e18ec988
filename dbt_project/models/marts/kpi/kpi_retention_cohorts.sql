-- One row per (cohort_month, months_since_first_purchase): customers whose first completed order
-- fell in cohort_month, and how many of them completed an order N calendar months later, for
-- every month from the cohort's own (N = 0) to the run date's month (zeros included, so a curve
-- has no gaps). Customers without a completed order, and anonymous orders, are in no cohort.
with orders as (
    select
        customer_id,
        cast(date_trunc('month', order_date) as date) as order_month
    from {{ ref('fct_orders') }}
    where is_completed and customer_id is not null and order_date <= {{ run_date() }}
),

-- one row per customer and month they bought in
customer_months as (
    select distinct
        customer_id,
        order_month
    from orders
),

customer_cohorts as (
    select
        customer_id,
        min(order_month) as cohort_month
    from customer_months
    group by customer_id
),

cohort_sizes as (
    select
        cohort_month,
        count(*) as cohort_size
    from customer_cohorts
    group by cohort_month
),

active_per_month as (
    select
        customer_cohorts.cohort_month,
        date_diff('month', customer_cohorts.cohort_month, customer_months.order_month)
            as months_since_first_purchase,
        count(*) as active_customers
    from customer_months
    inner join customer_cohorts on customer_months.customer_id = customer_cohorts.customer_id
    group by customer_cohorts.cohort_month, months_since_first_purchase
),

-- every month from each cohort's own up to the run date's month
cohort_months as (
    select
        cohort_month,
        cohort_size,
        cast(
            unnest(
                generate_series(
                    cohort_month, date_trunc('month', {{ run_date() }}), interval 1 month
                )
            ) as date
        ) as activity_month
    from cohort_sizes
),

cohort_spine as (
    select
        *,
        date_diff('month', cohort_month, activity_month) as months_since_first_purchase
    from cohort_months
)

select
    cohort_spine.cohort_month,
    cohort_spine.months_since_first_purchase,
    cohort_spine.activity_month,
    cohort_spine.cohort_size,
    coalesce(active_per_month.active_customers, 0) as active_customers,
    round(coalesce(active_per_month.active_customers, 0) / cohort_spine.cohort_size, 4) as retention_rate,
    -- the run date's month is still running: its activity can only grow
    cohort_spine.activity_month = date_trunc('month', {{ run_date() }}) as is_partial_month,
    {{ run_date() }} as as_of_date
from cohort_spine
left join active_per_month
    on
        cohort_spine.cohort_month = active_per_month.cohort_month
        and cohort_spine.months_since_first_purchase = active_per_month.months_since_first_purchase
