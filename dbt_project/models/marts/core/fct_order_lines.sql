-- One row per order line (store POS lines and web order products), with the order's customer,
-- channel, time and status.
-- Incremental, by order (delete+insert on order_id): an order's lines are recomputed when its
-- int_orders_with_lines row changed customer or inputs_loaded_at (which moves with any of its raw
-- order, line or store rows, or its web events), appeared with lines or disappeared, or when a
-- store line was loaded for an order that has no order row. Every recomputed order also gets a
-- marker row (order_id only), so an order left without lines loses its old ones; the post-hook
-- deletes the markers.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook="{{ delete_row_markers('order_line_id') }}",
) }}

with store_order_lines as (
    select * from {{ ref('stg_store__order_lines') }}
),

orders as (
    select * from {{ ref('int_orders_with_lines') }}
),

{% if is_incremental() %}
    built as (
        {{ built_orders() }}
    ),

    changed_orders as (
        select coalesce(orders.order_id, built.order_id) as order_id  -- noqa: AM07
        from orders
        full outer join built on orders.order_id = built.order_id
        where
            (built.order_id is null and orders.order_line_count > 0)
            or orders.order_id is null
            or {{ order_inputs_differ('orders', 'built') }}
        union
        -- a line whose order has no row (so no inputs_loaded_at to move); a NULL load time
        -- cannot be ordered, so it always counts
        select store_order_lines.order_id
        from store_order_lines
        where
            store_order_lines.loaded_at > coalesce(
                (select max(built.inputs_loaded_at) from built), timestamp '-infinity'
            )
            or store_order_lines.loaded_at is null
    ),
{% endif %}

order_lines as (
    select
        order_line_id,
        order_id,
        product_sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from store_order_lines
    {{ only_changed_keys('order_id', 'changed_orders') }}
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
    {{ only_changed_keys('order_id', 'changed_orders') }}
),

orders_of_lines as (
    select * from orders
    {{ only_changed_keys('order_id', 'changed_orders') }}
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
    order_lines.line_amount,
    orders.inputs_loaded_at
from order_lines
left join orders_of_lines as orders on order_lines.order_id = orders.order_id
{%- if is_incremental() %}
    union all by name
    select changed_orders.order_id
    from changed_orders
{%- endif %}
