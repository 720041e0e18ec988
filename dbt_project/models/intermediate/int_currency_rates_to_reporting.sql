-- One row per currency that can be converted to the reporting currency (var('reporting_currency'),
-- default USD): its rate from seeds/currency_rates.csv, and the reporting currency itself at 1.
-- Revenue KPIs left-join orders to it on currency: no row means no rate, so the order's
-- reporting-currency amount is NULL, never a sum of two currencies. decimal(38, 8): an amount
-- (decimal(18, 4)) times a decimal(18, 8) would be a decimal(18, 12), which overflows from one
-- million up; times this it is a decimal(38, 12), exact. Rounding to 2 decimal places happens only
-- in the reporting-currency KPIs, after summing (decimal(14, 2): lifetime_revenue, kpi_daily).
{{ config(materialized='view') }}

with rates as (
    select
        upper(trim(currency)) as currency,
        cast(rate as decimal(38, 8)) as rate_to_reporting
    from {{ ref('currency_rates') }}
    where
        upper(trim(reporting_currency)) = upper('{{ var("reporting_currency") }}')
        and upper(trim(currency)) != upper('{{ var("reporting_currency") }}')
)

select
    currency,
    rate_to_reporting
from rates
union all
select
    upper('{{ var("reporting_currency") }}') as currency,
    cast(1 as decimal(38, 8)) as rate_to_reporting
