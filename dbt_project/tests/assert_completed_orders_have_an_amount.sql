-- Completed orders without an amount (a web Order Completed event with neither a numeric
-- properties.revenue nor properties.total): counted as orders, left out of every revenue KPI
-- (they count in the *_without_rate columns with the orders that could not be converted). A
-- warning, not an error: the marts stay right, only incomplete; fix the tracking plan to count them.
-- Returns one row per order channel.
{{ config(severity='warn') }}

select
    order_channel,
    count(*) as completed_orders
from {{ ref('fct_orders') }}
where is_completed and total_amount is null
group by order_channel
