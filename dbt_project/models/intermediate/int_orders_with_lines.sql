-- One row per order from either channel - store (POS) or web (Order Completed events) - with
-- its line totals, store and resolved customer. Keyed by order_key, '<channel>|<order_id>': the
-- channels' order ids are independent (a web order_id may equal a POS one), so an order is its
-- channel and its id.
-- Incremental (delete+insert on order_key): a build recomputes only the orders whose inputs changed
-- since the last build - store orders, lines or stores loaded since then, store orders whose POS
-- customer identity moved to another customer, web orders that differ from the stored row
-- (macros/orders_to_rebuild.sql) - and replaces those rows. The pre-hook logs the orders for
-- fct_orders and fct_order_lines (macros/change_log.sql), and this build recomputes every logged
-- one: tonight's, and those of a night whose fct_orders or fct_order_lines did not build.
-- An order left without a source row (a web order whose event was reloaded as something else) gets
-- a marker row (order_key only), which replaces its old row and is deleted by the post-hook.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_key',
    on_schema_change='fail',
    pre_hook="{{ log_keys_to_rebuild(['fct_orders', 'fct_order_lines'], orders_to_rebuild()) }}",
    post_hook=[
        "{{ delete_row_markers('order_channel') }}",
        "{{ clear_change_log('int_orders_with_lines') }}",
    ],
) }}
-- depends_on: {{ ref('int_person_records_dated') }} (its log of re-attributed records)

with store_orders as (
    select
        *,
        {{ order_key("'store'", 'order_id') }} as order_key
    from {{ ref('stg_store__orders') }}
),

store_order_lines as (
    select
        *,
        {{ order_key("'store'", 'order_id') }} as order_key
    from {{ ref('stg_store__order_lines') }}
),

stores as (
    select * from {{ ref('stg_store__stores') }}
),

web_orders as (
    select
        *,
        {{ order_key("'web'", 'order_id') }} as order_key
    from {{ ref('int_web_orders_deduplicated') }}
),

web_order_lines as (
    select
        *,
        {{ order_key("'web'", 'order_id') }} as order_key
    from {{ ref('int_web_order_lines_extracted') }}
),

store_customers as (
    select
        source_record_id,
        customer_id
    from {{ ref('stg_identity__customer_records') }}
    where source_system = 'store'
),

{% if is_incremental() %}
    changed_orders as (
        select log_rows.rebuild_key as order_key
        from (
            {{ logged_keys_to_rebuild('fct_orders') }}
            union
            {{ logged_keys_to_rebuild('fct_order_lines') }}
        ) as log_rows
    ),
{% endif %}

line_totals as (
    select
        order_key,
        count(*) as order_line_count,
        cast(sum(quantity) as bigint) as item_quantity,
        cast(sum(line_amount) as decimal(38, 4)) as lines_amount,
        max(loaded_at) as lines_loaded_at
    from store_order_lines
    {{ only_changed_keys('order_key', 'changed_orders') }}
    group by order_key
    union all
    select
        order_key,
        count(*) as order_line_count,
        cast(sum(quantity) as bigint) as item_quantity,
        cast(sum(line_amount) as decimal(38, 4)) as lines_amount,
        null as lines_loaded_at
    from web_order_lines
    {{ only_changed_keys('order_key', 'changed_orders') }}
    group by order_key
),

orders as (
    select
        store_orders.order_key,
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
        store_orders.updated_at,
        greatest(store_orders.loaded_at, stores.loaded_at) as order_loaded_at
    from store_orders
    left join stores on store_orders.store_id = stores.store_id
    left join store_customers on store_orders.store_customer_id = store_customers.source_record_id
    {%- if is_incremental() %}
        where store_orders.order_key in (select changed_orders.order_key from changed_orders)
    {%- endif %}
    union all
    select
        order_key,
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
        ordered_at as updated_at,
        loaded_at as order_loaded_at
    from web_orders
    {{ only_changed_keys('order_key', 'changed_orders') }}
),

orders_with_lines as (
    select
        orders.* exclude (order_loaded_at),  -- noqa: RF02
        coalesce(line_totals.order_line_count, 0) as order_line_count,
        coalesce(line_totals.item_quantity, 0) as item_quantity,
        coalesce(line_totals.lines_amount, 0) as lines_amount,
        greatest(orders.order_loaded_at, line_totals.lines_loaded_at) as inputs_loaded_at,
        {{ build_started_at() }} as written_at
    from orders
    left join line_totals on orders.order_key = line_totals.order_key
)

select * from orders_with_lines
{{- markers_for_keys_without_rows('orders_with_lines', 'order_key', 'changed_orders') }}
