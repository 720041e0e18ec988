-- One row per online order (Order Completed track events), with its resolved customer.
-- A retried message can repeat an order_id: the first event wins.
-- Reads the incremental fct_web_events (already sessionised and attributed, customer_id falling
-- back to the session's customer) rather than re-sessionising every event on each read.
-- loaded_at (the chosen event's load time) is how the incremental int_orders_with_lines sees a reload.
with order_events as (
    select * from {{ ref('fct_web_events') }}
    where event_name = 'Order Completed' and order_id is not null
)

select
    order_id,
    web_event_id,
    customer_id,
    session_id,
    event_at as ordered_at,
    order_revenue as total_amount,
    coalesce(order_currency, 'USD') as currency,
    properties,
    loaded_at
from order_events
qualify row_number() over (partition by order_id order by event_at, web_event_id) = 1
