-- One row per currency that can be converted to the reporting currency (var('reporting_currency'),
-- default USD): its rate from seeds/currency_rates.csv, and the reporting currency itself at 1.
-- Revenue KPIs left-join orders to it on currency: no row means no rate, so the order's
-- reporting-currency amount is NULL, never a sum of two currencies.
{{ config(materialized='view') }}

with rates as (
    select
        upper(trim(currency)) as currency,
        cast(rate as decimal(18, 8)) as rate_to_reporting
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
    cast(1 as decimal(18, 8)) as rate_to_reporting
