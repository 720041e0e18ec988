-- One row per customer with the emails, phones and source systems its person records carry.
-- Incremental per customer (macros/incremental_customers.sql): only customers whose records
-- changed, or whose record dates crossed the run date, are aggregated again.
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
    'source_record_key', 'source_system', 'email', 'phone', 'record_dated_at', 'is_dated_by_run_date',
] %}

with person_records as not materialized (
    select
        customer_id,
        source_record_key,
        source_system,
        email,
        phone,
        record_dated_at,
        -- record dates after the run date (a backfill) do not count as "seen"
        record_dated_at < {{ run_date_end() }} as is_dated_by_run_date
    from {{ ref('int_person_records_dated') }}
),

{{ changed_customers_cte('person_records', input_columns) }}

identifiers as (
    select
        customer_id,
        count(*) as source_record_count,
        list_sort(list_distinct(list(source_system))) as source_systems,
        coalesce(list_sort(list_distinct(list(email))), []) as emails,
        coalesce(list_sort(list_distinct(list(phone))), []) as phones,
        min(record_dated_at) filter (where is_dated_by_run_date) as first_record_updated_at,
        max(record_dated_at) filter (where is_dated_by_run_date) as last_record_updated_at,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from person_records
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('identifiers') }}
