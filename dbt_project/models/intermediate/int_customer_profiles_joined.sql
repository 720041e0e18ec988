-- One row per resolved customer: golden record, identifiers, consents and lifetime activity.
-- The columns of dim_customers that depend on the customer alone; int_customer_profiles_ranked
-- adds those that move every night for everyone (as_of_date, days_since_*, revenue_percentile).
-- Incremental per customer (macros/incremental_customers.sql): the fingerprint is made of the
-- per-customer models' own fingerprints, so only customers with a changed input are joined again.
-- Those models log the customers they recomputed (log_recomputed_customers, macros/change_log.sql)
-- and a build rebuilds the logged customers; without a log, or after a full build of one of them,
-- it compares every customer's fingerprint instead. The post-hook empties the log.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='customer_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_customers_without_inputs() }}",
        "{{ clear_change_log('int_customer_profiles_joined') }}",
    ],
) }}
{#- what a profile is computed from, as (name in `inputs`, expression in `joined`) -#}
{%- set fingerprint_inputs = {
    'golden_fingerprint': 'golden_records.inputs_fingerprint',
    'identifiers_fingerprint': 'identifiers.inputs_fingerprint',
    'consents_fingerprint': 'consents.inputs_fingerprint',
    'orders_fingerprint': 'orders.inputs_fingerprint',
    'web_fingerprint': 'web.inputs_fingerprint',
    'calls_fingerprint': 'calls.inputs_fingerprint',
    'company_name': 'accounts.company_name',
    'store_account_created_at': 'accounts.store_account_created_at',
} %}
{%- set input_columns = fingerprint_inputs.keys() | list %}

with customers as (
    select distinct customer_id from {{ ref('stg_identity__customer_records') }}
),

golden_records as (select * from {{ ref('int_customer_golden_record') }}),

identifiers as (select * from {{ ref('int_identifiers_per_customer') }}),

consents as (select * from {{ ref('int_customer_consents_resolved') }}),

orders as (select * from {{ ref('int_orders_aggregated_to_customers') }}),

web as (select * from {{ ref('int_web_sessions_aggregated_to_customers') }}),

calls as (select * from {{ ref('int_calls_aggregated_to_customers') }}),

accounts as (select * from {{ ref('int_accounts_per_customer') }}),

-- incremental builds: one row per customer with what its profile is computed from, whose
-- fingerprint tells which customers changed (a full build never reads this CTE)
inputs as not materialized (  -- noqa: ST03
    select
        {% for name, expression in fingerprint_inputs.items() -%}
            {{ expression }} as {{ name }},
        {% endfor -%}
        customers.customer_id
    from customers
    left join golden_records on customers.customer_id = golden_records.customer_id
    left join identifiers on customers.customer_id = identifiers.customer_id
    left join consents on customers.customer_id = consents.customer_id
    left join orders on customers.customer_id = orders.customer_id
    left join web on customers.customer_id = web.customer_id
    left join calls on customers.customer_id = calls.customer_id
    left join accounts on customers.customer_id = accounts.customer_id
),

{% if is_incremental() and not change_log_rebuilds_all('int_customer_profiles_joined') -%}
    changed_customers as (
        select logged_keys.rebuild_key as customer_id
        from ({{ logged_keys_to_rebuild('int_customer_profiles_joined') }}) as logged_keys
    ),
{%- else -%}
    {{ changed_customers_cte('inputs', input_columns) }}
{%- endif %}

-- the customers to (re)build: all of them, or those whose inputs changed
customers_to_build as (
    select customer_id from customers
    {{ only_changed_customers() }}
),

joined as (
    select
        customers.customer_id,
        golden_records.first_name,
        golden_records.last_name,
        golden_records.email,
        golden_records.phone,
        golden_records.street,
        golden_records.city,
        golden_records.postcode,
        golden_records.state,
        golden_records.country,
        golden_records.date_of_birth,
        accounts.company_name,
        accounts.company_name is not null as is_b2b,
        coalesce(identifiers.emails, []) as emails,
        coalesce(identifiers.phones, []) as phones,
        identifiers.source_systems,
        coalesce(identifiers.source_record_count, 0) as source_record_count,
        -- least/greatest skip NULLs in DuckDB: the earliest / latest trace in any source
        least(
            accounts.store_account_created_at, orders.first_order_at,
            web.first_visit_at, calls.first_call_at, identifiers.first_record_updated_at
        ) as first_seen_at,
        greatest(
            orders.last_order_at, web.last_visit_at, calls.last_call_at,
            identifiers.last_record_updated_at
        ) as last_seen_at,
        coalesce(consents.has_consent_email_marketing, false) as has_consent_email_marketing,
        coalesce(consents.has_consent_sms_marketing, false) as has_consent_sms_marketing,
        coalesce(consents.has_consent_ad_targeting, false) as has_consent_ad_targeting,
        coalesce(orders.lifetime_orders, 0) as lifetime_orders,
        cast(coalesce(orders.lifetime_revenue, 0) as decimal(14, 2)) as lifetime_revenue,
        -- over the orders lifetime_revenue sums: those with a rate to the reporting currency
        cast(
            orders.lifetime_revenue
            / nullif(orders.lifetime_orders - orders.lifetime_orders_without_rate, 0) as decimal(14, 2)
        ) as average_order_value,
        coalesce(orders.lifetime_orders_without_rate, 0) as lifetime_orders_without_rate,
        orders.first_purchase_at,
        orders.last_purchase_at,
        coalesce(web.web_sessions, 0) as web_sessions,
        coalesce(web.page_views, 0) as page_views,
        web.first_visit_at,
        web.last_visit_at,
        web.acquisition_channel,
        web.acquisition_campaign,
        coalesce(calls.calls, 0) as calls,
        calls.last_call_at,
        calls.average_csat,
        calls.latest_nps,
        -- the same value inputs_fingerprint() gives over this customer's single row of `inputs`
        {{ row_inputs_fingerprint(fingerprint_inputs.values() | list) }} as inputs_fingerprint
    from customers_to_build as customers
    left join golden_records on customers.customer_id = golden_records.customer_id
    left join identifiers on customers.customer_id = identifiers.customer_id
    left join consents on customers.customer_id = consents.customer_id
    left join orders on customers.customer_id = orders.customer_id
    left join web on customers.customer_id = web.customer_id
    left join calls on customers.customer_id = calls.customer_id
    left join accounts on customers.customer_id = accounts.customer_id
)

{{ select_with_customers_without_inputs('joined') }}
