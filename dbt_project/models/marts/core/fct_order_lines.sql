-- One row per order line (store POS lines and web order products), with the order's customer,
-- channel, time and status.
with order_lines as (
    select
        order_line_id,
        order_id,
        product_sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from {{ ref('stg_store__order_lines') }}
    union all
    select
        order_line_id,
        order_id,
        product_sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from {{ ref('int_web_order_lines_extracted') }}
),

orders as (
    select * from {{ ref('int_orders_with_lines') }}
)

select
    order_lines.order_line_id,
    order_lines.order_id,
    orders.order_channel,
    orders.customer_id,
    orders.store_id,
    orders.ordered_at,
    orders.order_status,
    order_lines.product_sku,
    order_lines.product_name,
    order_lines.category,
    order_lines.quantity,
    order_lines.unit_price,
    order_lines.line_amount
from order_lines
left join orders on order_lines.order_id = orders.order_id
