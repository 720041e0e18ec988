-- One row per customer that made any consent statement: the latest statement per purpose wins;
-- when two sources state different things at the same moment the refusal wins.
-- No statement at all means no consent (opt-in, never assumed).
-- Incremental per customer (macros/incremental_customers.sql): only customers whose statements
-- changed are resolved again.
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
    'consent_purpose', 'is_granted', 'stated_at', 'source_system', 'source_record_id',
] %}

with statements as not materialized (
    select
        customer_id,
        consent_purpose,
        is_granted,
        stated_at,
        source_system,
        source_record_id
    from {{ ref('int_consent_statements_unioned') }}
    -- statements made after the run date (a backfill) are not known yet on that date
    where stated_at is null or stated_at < {{ run_date_end() }}
),

{{ changed_customers_cte('statements', input_columns) }}

statements_to_resolve as (
    select * from statements
    {{ only_changed_customers() }}
),

latest as (
    select
        customer_id,
        consent_purpose,
        -- undated statements rank before every dated one
        arg_max(
            is_granted, (coalesce(stated_at, timestamp '1900-01-01'), not is_granted)
        ) as is_granted
    from statements_to_resolve
    group by customer_id, consent_purpose
),

fingerprints as (
    select
        customer_id,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from statements_to_resolve
    group by customer_id
),

consents as (
    select
        latest.customer_id,
        coalesce(bool_or(latest.is_granted) filter (
            where latest.consent_purpose = 'email_marketing'
        ), false) as has_consent_email_marketing,
        coalesce(bool_or(latest.is_granted) filter (
            where latest.consent_purpose = 'sms_marketing'
        ), false) as has_consent_sms_marketing,
        coalesce(bool_or(latest.is_granted) filter (
            where latest.consent_purpose = 'ad_targeting'
        ), false) as has_consent_ad_targeting,
        any_value(fingerprints.inputs_fingerprint) as inputs_fingerprint
    from latest
    inner join fingerprints on latest.customer_id = fingerprints.customer_id
    group by latest.customer_id
)

{{ select_with_customers_without_inputs('consents') }}
