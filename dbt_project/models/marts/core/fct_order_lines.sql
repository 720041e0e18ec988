-- One row per order line (store POS lines and web order products), with the order's customer,
-- channel, time and status.
-- Incremental, by order (delete+insert on order_key, '<channel>|<order_id>', macros/order_key.sql:
-- a web order_id may equal a POS one): an order's lines are recomputed when
-- int_orders_with_lines logged the order as recomputed (macros/change_log.sql: any of its raw order,
-- line or store rows loaded, its customer or web event changed, or a store line loaded for an order
-- that has no order row; every order without a log, or after a full build of int_orders_with_lines).
-- Every recomputed order also gets a marker row (order_key only), so an order left without lines
-- loses its old ones; the post-hook deletes the markers and empties the log.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_row_markers('order_line_id') }}",
        "{{ clear_change_log('fct_order_lines') }}",
    ],
) }}

with store_order_lines as (
    select
        *,
        {{ order_key("'store'", 'order_id') }} as order_key
    from {{ ref('stg_store__order_lines') }}
),

web_order_lines as (
    select
        *,
        {{ order_key("'web'", 'order_id') }} as order_key
    from {{ ref('int_web_order_lines_extracted') }}
),

orders as (
    select * from {{ ref('int_orders_with_lines') }}
),

{% if is_incremental() %}
    changed_orders as (
        {% if change_log_rebuilds_all('fct_order_lines') -%}
            select orders.order_key from orders
            union
            select store_order_lines.order_key from store_order_lines
            union
            select built.order_key from {{ this }} as built
        {%- else -%}
            select log_rows.rebuild_key as order_key
            from ({{ logged_keys_to_rebuild('fct_order_lines') }}) as log_rows
        {%- endif %}
    ),
{% endif %}

order_lines as (
    select
        order_line_id,
        order_key,
        order_id,
        product_sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from store_order_lines
    {{ only_changed_keys('order_key', 'changed_orders') }}
    union all
    select
        order_line_id,
        order_key,
        order_id,
        product_sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from web_order_lines
    {{ only_changed_keys('order_key', 'changed_orders') }}
),

orders_of_lines as (
    select * from orders
    {{ only_changed_keys('order_key', 'changed_orders') }}
)

select
    order_lines.order_line_id,
    order_lines.order_key,
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
    orders.inputs_loaded_at,
    {{ build_started_at() }} as written_at
from order_lines
left join orders_of_lines as orders on order_lines.order_key = orders.order_key
{%- if is_incremental() %}
    union all by name
    select changed_orders.order_key
    from changed_orders
{%- endif %}
