-- One row per customer with at least one order (store or web): lifetime purchase totals.
-- Revenue and order counts cover completed orders only (returned and cancelled excluded), up to
-- the end of the run date. lifetime_revenue is in the reporting currency (var('reporting_currency'),
-- int_currency_rates_to_reporting): a completed order whose currency has no rate is not summed
-- into it but counted in lifetime_orders_without_rate (and still in lifetime_orders).
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
{#- total_amount_reporting carries the rate, so a changed rate recomputes the customers it affects -#}
{%- set input_columns = [
    'order_id', 'ordered_at', 'order_status', 'is_completed', 'total_amount', 'total_amount_reporting',
] %}

with orders as not materialized (
    select
        orders_with_lines.customer_id,
        orders_with_lines.order_id,
        orders_with_lines.ordered_at,
        orders_with_lines.order_status,
        orders_with_lines.is_completed,
        orders_with_lines.total_amount,
        orders_with_lines.total_amount * rates.rate_to_reporting as total_amount_reporting
    from {{ ref('int_orders_with_lines') }} as orders_with_lines
    left join {{ ref('int_currency_rates_to_reporting') }} as rates
        on orders_with_lines.currency = rates.currency
    where orders_with_lines.customer_id is not null and orders_with_lines.ordered_at < {{ run_date_end() }}
),

{{ changed_customers_cte('orders', input_columns) }}

aggregated as (
    select
        customer_id,
        count(*) filter (where is_completed) as lifetime_orders,
        cast(
            coalesce(sum(total_amount_reporting) filter (where is_completed), 0) as decimal(14, 2)
        ) as lifetime_revenue,
        count(*) filter (where is_completed and total_amount_reporting is null) as lifetime_orders_without_rate,
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
