-- One row per order (store POS and web), with its resolved customer (NULL for anonymous purchases).
with orders as (
    select * from {{ ref('int_orders_with_lines') }}
)

select
    order_id,
    order_channel,
    customer_id,
    store_customer_id,
    store_id,
    store_name,
    ordered_at,
    cast(ordered_at as date) as order_date,
    order_status,
    is_completed,
    total_amount,
    currency,
    order_line_count,
    item_quantity,
    lines_amount,
    -- a non-zero difference flags a total that does not match its lines (discounts, data errors)
    total_amount - lines_amount as total_minus_lines_amount,
    row_number() over (
        partition by customer_id, is_completed order by ordered_at, order_id
    ) = 1 and is_completed and customer_id is not null as is_first_purchase,
    updated_at
from orders
