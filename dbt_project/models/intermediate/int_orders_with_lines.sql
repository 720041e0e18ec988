-- One row per order from either channel - store (POS) or web (Order Completed events) - with
-- its line totals, store and resolved customer.
with store_orders as (
    select * from {{ ref('stg_store__orders') }}
),

store_order_lines as (
    select * from {{ ref('stg_store__order_lines') }}
),

stores as (
    select * from {{ ref('stg_store__stores') }}
),

web_orders as (
    select * from {{ ref('int_web_orders_deduplicated') }}
),

web_order_lines as (
    select * from {{ ref('int_web_order_lines_extracted') }}
),

store_customers as (
    select
        source_record_id,
        customer_id
    from {{ ref('stg_identity__customer_records') }}
    where source_system = 'store'
),

line_totals as (
    select
        order_id,
        count(*) as order_line_count,
        cast(sum(quantity) as bigint) as item_quantity,
        cast(sum(line_amount) as decimal(12, 2)) as lines_amount
    from store_order_lines
    group by order_id
    union all
    select
        order_id,
        count(*) as order_line_count,
        cast(sum(quantity) as bigint) as item_quantity,
        cast(sum(line_amount) as decimal(12, 2)) as lines_amount
    from web_order_lines
    group by order_id
),

orders as (
    select
        store_orders.order_id,
        'store' as order_channel,
        store_customers.customer_id,
        store_orders.store_customer_id,
        store_orders.store_id,
        stores.store_name,
        store_orders.ordered_at,
        store_orders.order_status,
        store_orders.is_completed,
        store_orders.total_amount,
        store_orders.currency,
        store_orders.updated_at
    from store_orders
    left join stores on store_orders.store_id = stores.store_id
    left join store_customers on store_orders.store_customer_id = store_customers.source_record_id
    union all
    select
        order_id,
        'web' as order_channel,
        customer_id,
        null as store_customer_id,
        null as store_id,
        null as store_name,
        ordered_at,
        'completed' as order_status,
        true as is_completed,
        total_amount,
        currency,
        ordered_at as updated_at
    from web_orders
)

select
    orders.*,
    coalesce(line_totals.order_line_count, 0) as order_line_count,
    coalesce(line_totals.item_quantity, 0) as item_quantity,
    coalesce(line_totals.lines_amount, 0) as lines_amount
from orders
left join line_totals on orders.order_id = line_totals.order_id
