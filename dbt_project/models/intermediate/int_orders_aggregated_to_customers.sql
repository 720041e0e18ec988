-- One row per customer with at least one order (store or web): lifetime purchase totals.
-- Revenue and order counts cover completed orders only (returned and cancelled excluded), up to
-- the end of the run date.
-- Incremental per customer (macros/incremental_customers.sql): only customers whose orders
-- changed, moved to or from them, or entered the run date's window are aggregated again.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_customers_without_inputs() }}",
        "{{ log_recomputed_customers() }}",
    ],
) }}
{%- set input_columns = ['order_id', 'ordered_at', 'order_status', 'is_completed', 'total_amount'] %}

with orders as not materialized (
    select
        customer_id,
        order_id,
        ordered_at,
        order_status,
        is_completed,
        total_amount
    from {{ ref('int_orders_with_lines') }}
    where customer_id is not null and ordered_at < {{ run_date_end() }}
),

{{ changed_customers_cte('orders', input_columns) }}

aggregated as (
    select
        customer_id,
        count(*) filter (where is_completed) as lifetime_orders,
        coalesce(sum(total_amount) filter (where is_completed), 0) as lifetime_revenue,
        min(ordered_at) filter (where is_completed) as first_purchase_at,
        max(ordered_at) filter (where is_completed) as last_purchase_at,
        count(*) filter (where order_status = 'returned') as returned_orders,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from orders
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('aggregated') }}
