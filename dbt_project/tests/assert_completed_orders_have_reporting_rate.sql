-- Completed orders whose currency has no rate to the reporting currency (var('reporting_currency'))
-- in seeds/currency_rates.csv: they are left out of every revenue KPI (lifetime_revenue, AOV,
-- kpi_daily.revenue) instead of being summed in their own currency. A warning, not an error: the
-- marts stay right, only incomplete; add the rate to the seed to count them.
-- Returns one row per such currency.
{{ config(severity='warn') }}

select
    orders.currency,
    count(*) as completed_orders
from {{ ref('fct_orders') }} as orders
left join {{ ref('int_currency_rates_to_reporting') }} as rates on orders.currency = rates.currency
where orders.is_completed and rates.currency is null
group by orders.currency
