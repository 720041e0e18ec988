-- One row per customer with at least one completed order: historical lifetime value (revenue,
-- orders, AOV, first / last purchase, tenure) and a simple predicted revenue for the next 12
-- months. Not a fitted model (no BG/NBD): a shrunk repeat-purchase rate times the customer's
-- AOV times a survival heuristic from customer_churn_risk, all as of the run date.
--   repeat rate  = (repeat_orders + population_rate * prior_days) / (tenure_days + prior_days)
--                  per day (a Gamma-Poisson posterior mean: short tenures, one-time buyers
--                  included, lean on the population's rate, long ones on their own);
--   population_rate = sum(repeat_orders) / sum(tenure_days) over all buyers;
--   expected_orders_12m = 365 * repeat rate;
--   active_probability = 1 while churn_risk_score <= 1 (not overdue), else 1 / churn_risk_score;
--   predicted_clv_12m = expected_orders_12m * average_order_value * active_probability.
-- repeat_orders = lifetime_orders - 1: the first order is why the customer is in the table.
{%- set prior_days = var('clv_prior_days') %}

with buyers as (
    select
        customer_id,
        lifetime_orders,
        lifetime_revenue,
        average_order_value,
        first_purchase_at,
        last_purchase_at,
        lifetime_orders - 1 as repeat_orders,
        date_diff('day', cast(first_purchase_at as date), {{ run_date() }}) as tenure_days
    from {{ ref('int_customer_profiles_ranked') }}
    where lifetime_orders > 0
),

population as (
    select coalesce(sum(repeat_orders) / nullif(sum(tenure_days), 0), 0) as repeat_orders_per_day
    from buyers
),

estimated as (
    select
        buyers.*,
        churn.churn_risk_score,
        365.0 * (buyers.repeat_orders + population.repeat_orders_per_day * {{ prior_days }})
        / (buyers.tenure_days + {{ prior_days }}) as expected_orders_12m,
        case
            when churn.churn_risk_score <= 1 then 1.0
            else 1.0 / churn.churn_risk_score
        end as active_probability
    from buyers
    inner join {{ ref('customer_churn_risk') }} as churn on buyers.customer_id = churn.customer_id
    cross join population
)

select
    customer_id,
    lifetime_orders,
    lifetime_revenue,
    average_order_value,
    first_purchase_at,
    last_purchase_at,
    tenure_days,
    round(expected_orders_12m, 4) as expected_orders_12m,
    round(active_probability, 4) as active_probability,
    cast(expected_orders_12m * average_order_value * active_probability as decimal(14, 2)) as predicted_clv_12m,
    {{ run_date() }} as as_of_date
from estimated
