-- One row per online order (Order Completed track events), with its resolved customer.
-- A retried message can repeat an order_id: the first event wins.
-- Reads the incremental fct_web_events (already sessionised and attributed, customer_id falling
-- back to the session's customer) rather than re-sessionising every event on each read.
-- loaded_at (the chosen event's load time) is how the incremental int_orders_with_lines sees a reload.
-- Incremental (delete+insert on order_id): a build recomputes the orders with an event that
-- fct_web_events wrote since this table's latest events_written_at (macros/web_orders_to_rebuild.sql),
-- over all of their Order Completed events, and logs them for int_web_order_lines_extracted
-- (macros/change_log.sql); it rebuilds every order still in that log. An order left without an
-- event gets a marker row (order_id only), deleted by the post-hook.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    pre_hook="{{ log_keys_to_rebuild('int_web_order_lines_extracted', web_orders_to_rebuild()) }}",
    post_hook="{{ delete_row_markers('web_event_id') }}",
) }}

with
{% if is_incremental() %}
    changed_orders as (
        select log_rows.rebuild_key as order_id
        from ({{ logged_keys_to_rebuild('int_web_order_lines_extracted') }}) as log_rows
    ),
{% endif %}

order_events as (
    select * from {{ ref('fct_web_events') }}
    where event_name = 'Order Completed' and order_id is not null
),

changed_order_events as (
    select * from order_events
    {{ only_changed_keys('order_id', 'changed_orders') }}
),

deduplicated as (
    select
        order_id,
        web_event_id,
        customer_id,
        session_id,
        event_at as ordered_at,
        order_revenue as total_amount,
        coalesce(order_currency, 'USD') as currency,
        properties,
        loaded_at,
        written_at as events_written_at
    from changed_order_events
    qualify row_number() over (partition by order_id order by event_at, web_event_id) = 1
)

select * from deduplicated
{{- markers_for_keys_without_rows('deduplicated', 'order_id', 'changed_orders') }}
