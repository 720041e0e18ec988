-- One row per customer with at least one order (store or web): lifetime purchase totals.
-- Revenue and order counts cover completed orders only (returned and cancelled excluded), up to
-- the end of the run date.
with orders as (
    select * from {{ ref('int_orders_with_lines') }}
    where customer_id is not null and ordered_at < {{ run_date_end() }}
)

select
    customer_id,
    count(*) filter (where is_completed) as lifetime_orders,
    coalesce(sum(total_amount) filter (where is_completed), 0) as lifetime_revenue,
    min(ordered_at) filter (where is_completed) as first_purchase_at,
    max(ordered_at) filter (where is_completed) as last_purchase_at,
    count(*) filter (where order_status = 'returned') as returned_orders,
    min(ordered_at) as first_order_at,
    max(ordered_at) as last_order_at
from orders
group by customer_id
