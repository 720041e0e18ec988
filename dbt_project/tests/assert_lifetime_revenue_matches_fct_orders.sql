-- dim_customers.lifetime_revenue / lifetime_orders agree with the completed orders in fct_orders
-- placed up to the end of the run date.
-- Returns the customers where they differ.
with order_totals as (
    select
        customer_id,
        count(*) as completed_orders,
        sum(total_amount) as completed_revenue
    from {{ ref('fct_orders') }}
    where is_completed and customer_id is not null and ordered_at < {{ run_date_end() }}
    group by customer_id
)

select
    customers.customer_id,
    customers.lifetime_orders,
    order_totals.completed_orders,
    customers.lifetime_revenue,
    order_totals.completed_revenue
from {{ ref('dim_customers') }} as customers
left join order_totals on customers.customer_id = order_totals.customer_id
where
    customers.lifetime_orders != coalesce(order_totals.completed_orders, 0)
    or customers.lifetime_revenue != coalesce(order_totals.completed_revenue, 0)
