-- The per-customer incremental models leave no marker row behind (macros/incremental_customers.sql):
-- a customer recomputed without input rows must be gone after the build, not kept with NULLs.
-- One query for the eight models instead of eight not_null tests.
{%- set models = [
    'int_customer_golden_record', 'int_identifiers_per_customer', 'int_customer_consents_resolved',
    'int_orders_aggregated_to_customers', 'int_web_sessions_aggregated_to_customers',
    'int_calls_aggregated_to_customers', 'int_accounts_per_customer', 'int_customer_profiles_joined',
] %}
{%- for model in models %}
    select
        '{{ model }}' as model_name,
        customer_id
    from {{ ref(model) }}
    where inputs_fingerprint is null
    {%- if not loop.last %}
        union all
    {%- endif %}
{%- endfor %}
