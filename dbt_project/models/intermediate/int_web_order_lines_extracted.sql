-- One row per product of an online order (properties.products of Order Completed events).
-- Incremental, by order (delete+insert on order_id, an order's lines replaced whole): the orders
-- int_web_orders_deduplicated logged as recomputed (macros/change_log.sql; every order without a
-- log or after its full build). Each recomputed order also gets a marker row (order_id only), so
-- an order that lost its lines or its row loses its old lines; the post-hook deletes the markers
-- and empties the log.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_row_markers('order_line_id') }}",
        "{{ clear_change_log('int_web_order_lines_extracted') }}",
    ],
) }}

with
{% if is_incremental() %}
    changed_orders as (
        {% if change_log_rebuilds_all('int_web_order_lines_extracted') -%}
            select web_orders.order_id from {{ ref('int_web_orders_deduplicated') }} as web_orders
            union
            select built.order_id from {{ this }} as built
        {%- else -%}
            select log_rows.rebuild_key as order_id
            from ({{ logged_keys_to_rebuild('int_web_order_lines_extracted') }}) as log_rows
        {%- endif %}
    ),
{% endif %}

web_orders as (
    select * from {{ ref('int_web_orders_deduplicated') }}
    {{ only_changed_keys('order_id', 'changed_orders') }}
),

products as (
    select
        order_id,
        unnest(json_extract(properties, '$.products[*]')) as product,
        generate_subscripts(json_extract(properties, '$.products[*]'), 1) as line_number
    from web_orders
),

lines as (
    select
        order_id || ':' || cast(line_number as varchar) as order_line_id,
        order_id,
        product ->> 'product_id' as product_sku,
        product ->> 'name' as product_name,
        lower(product ->> 'category') as category,
        coalesce(try_cast(product ->> 'quantity' as integer), 1) as quantity,
        -- as stg_web__events.order_revenue: 4 decimal places, NULL when it does not fit
        try_cast(product ->> 'price' as decimal(18, 4)) as unit_price,
        try_cast(
            coalesce(try_cast(product ->> 'quantity' as bigint), 1)
            * try_cast(product ->> 'price' as decimal(18, 4)) as decimal(18, 4)
        ) as line_amount
    from products
)

select * from lines
{%- if is_incremental() %}
    union all by name
    -- one marker per recomputed order: delete+insert then drops the lines it no longer has
    select changed_orders.order_id from changed_orders
{%- endif %}
