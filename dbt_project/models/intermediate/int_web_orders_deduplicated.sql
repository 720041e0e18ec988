-- One row per online order (Order Completed track events), with its resolved customer.
-- A retried message can repeat an order_id: the first event wins.
with order_events as (
    select * from {{ ref('int_web_events_sessionised') }}
    where event_name = 'Order Completed' and order_id is not null
)

select
    order_id,
    web_event_id,
    coalesce(customer_id, session_customer_id) as customer_id,
    session_id,
    event_at as ordered_at,
    order_revenue as total_amount,
    coalesce(order_currency, 'USD') as currency,
    properties
from order_events
qualify row_number() over (partition by order_id order by event_at, web_event_id) = 1
