-- One row per order (store POS and web), with its resolved customer (NULL for anonymous purchases),
-- keyed by order_key ('<channel>|<order_id>', macros/order_key.sql: a web order_id may equal a POS one).
-- Incremental (delete+insert on order_key): an order is recomputed when int_orders_with_lines logged
-- it as recomputed (macros/change_log.sql; every logged order without a log, or after a full build
-- of int_orders_with_lines); and is_first_purchase is per customer, so every order of a customer
-- who gained, lost or changed an order is recomputed with it. A vanished order gets a marker row,
-- deleted by the post-hook, which also empties the log.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_row_markers('order_channel') }}",
        "{{ clear_change_log('fct_orders') }}",
    ],
) }}

with all_orders as (
    select * from {{ ref('int_orders_with_lines') }}
),

{% if is_incremental() %}
    -- the orders int_orders_with_lines logged as recomputed (macros/change_log.sql), with their
    -- customer on either side
    changed_orders as (
        select
            coalesce(all_orders.order_key, built.order_key) as order_key,
            all_orders.customer_id,
            built.customer_id as built_customer_id
        from (
            {% if change_log_rebuilds_all('fct_orders') -%}
                select every_order.order_key from all_orders as every_order
                union
                select every_built_order.order_key from {{ this }} as every_built_order
            {%- else -%}
                select log_rows.rebuild_key as order_key
                from ({{ logged_keys_to_rebuild('fct_orders') }}) as log_rows
            {%- endif %}
        ) as logged_orders
        left join all_orders on logged_orders.order_key = all_orders.order_key
        left join {{ this }} as built on logged_orders.order_key = built.order_key
    ),

    -- the customers on either side of a changed order
    changed_customers as (
        select distinct unnest([changed_orders.customer_id, changed_orders.built_customer_id]) as customer_id
        from changed_orders
    ),
{% endif %}

orders as (
    select * from all_orders
    {%- if is_incremental() %}
        where
            order_key in (select changed_orders.order_key from changed_orders)
            or customer_id in (select changed_customers.customer_id from changed_customers)
    {%- endif %}
),

fact_orders as (
    select
        order_key,
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
            partition by customer_id, is_completed order by ordered_at, order_id, order_channel
        ) = 1 and is_completed and customer_id is not null as is_first_purchase,
        updated_at,
        inputs_loaded_at,
        {{ build_started_at() }} as written_at
    from orders
)

select * from fact_orders
{{- markers_for_keys_without_rows('fact_orders', 'order_key', 'changed_orders') }}
