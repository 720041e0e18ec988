-- One row per customer with a CRM company or a store account: the company (from CRM / lead lists,
-- the most recent list's non-empty value wins) and when the store account was created (up to the
-- run date). Kept apart from int_customer_profiles_joined so that it, like the other per-customer
-- models, tells the profiles which customers changed (macros/incremental_customers.sql).
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
{%- set input_columns = [
    'source_system', 'source_record_id', 'company_name', 'list_dated_at', 'loaded_at', 'created_at',
    'is_created_by_run_date',
] %}

with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

account_records as not materialized (
    select
        customer_records.customer_id,
        'csv' as source_system,
        contacts.contact_id as source_record_id,
        contacts.company_name,
        contacts.list_dated_at,
        contacts.loaded_at,
        null::timestamp as created_at,
        null::boolean as is_created_by_run_date
    from {{ ref('stg_csv__contacts') }} as contacts
    inner join customer_records
        on
            customer_records.source_system = 'csv'
            and contacts.contact_id = customer_records.source_record_id
    where contacts.company_name is not null
    union all
    select
        customer_records.customer_id,
        'store' as source_system,
        store_customers.store_customer_id as source_record_id,
        null as company_name,
        null as list_dated_at,
        null as loaded_at,
        store_customers.created_at,
        -- accounts created after the run date (a backfill) do not exist yet on that date
        store_customers.created_at < {{ run_date_end() }} as is_created_by_run_date
    from {{ ref('stg_store__customers') }} as store_customers
    inner join customer_records
        on
            customer_records.source_system = 'store'
            and store_customers.store_customer_id = customer_records.source_record_id
),

{{ changed_customers_cte('account_records', input_columns) }}

accounts as (
    select
        customer_id,
        arg_max(company_name, (list_dated_at, loaded_at, source_record_id)) filter (
            where source_system = 'csv'
        ) as company_name,
        min(created_at) filter (where is_created_by_run_date) as store_account_created_at,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from account_records
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('accounts') }}
