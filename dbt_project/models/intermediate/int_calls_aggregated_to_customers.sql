-- One row per customer who called: call counts, last call, average CSAT and latest NPS.
-- Incremental per customer (macros/incremental_customers.sql): only customers whose calls
-- changed, moved to or from them, or entered the run date's window are aggregated again.
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
{%- set input_columns = ['call_id', 'started_at', 'csat', 'nps'] %}

with calls as not materialized (
    select
        customer_records.customer_id,
        calls.call_id,
        calls.started_at,
        calls.csat,
        calls.nps
    from {{ ref('stg_call_center__calls') }} as calls
    inner join {{ ref('stg_identity__customer_records') }} as customer_records
        on
            customer_records.source_system = 'call_center'
            and calls.call_id = customer_records.source_record_id
    where calls.started_at < {{ run_date_end() }}
),

{{ changed_customers_cte('calls', input_columns) }}

aggregated as (
    select
        customer_id,
        count(*) as calls,
        min(started_at) as first_call_at,
        max(started_at) as last_call_at,
        round(avg(csat), 2) as average_csat,
        arg_max(nps, (started_at, call_id)) filter (where nps is not null) as latest_nps,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from calls
    {{ only_changed_customers() }}
    group by customer_id
)

{{ select_with_customers_without_inputs('aggregated') }}
