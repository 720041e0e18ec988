-- One row per product of an online order (properties.products of Order Completed events).
with web_orders as (
    select * from {{ ref('int_web_orders_deduplicated') }}
),

products as (
    select
        order_id,
        unnest(json_extract(properties, '$.products[*]')) as product,
        generate_subscripts(json_extract(properties, '$.products[*]'), 1) as line_number
    from web_orders
)

select
    order_id || ':' || cast(line_number as varchar) as order_line_id,
    order_id,
    product ->> 'product_id' as product_sku,
    product ->> 'name' as product_name,
    lower(product ->> 'category') as category,
    coalesce(try_cast(product ->> 'quantity' as integer), 1) as quantity,
    try_cast(product ->> 'price' as decimal(12, 2)) as unit_price,
    cast(
        coalesce(try_cast(product ->> 'quantity' as integer), 1)
        * try_cast(product ->> 'price' as decimal(12, 2)) as decimal(12, 2)
    ) as line_amount
from products
