-- One row per customer: the surviving value of each attribute across its person records.
-- Survivorship: records are ranked by var('golden_record_source_priority'), then most recently
-- dated first (a CSV record by its list's date, int_person_records_dated); each attribute takes
-- the first non-null value in that order. The address is taken as one block from the best record
-- that has one, so street and city never mix records. A birth date after the run date or before
-- 1900 is not a candidate (treated as NULL).
-- Incremental per customer (macros/incremental_customers.sql): only customers whose person
-- records changed are ranked again.
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
    'source_record_key', 'source_priority', 'first_name', 'last_name', 'email', 'phone',
    'date_of_birth', 'street', 'city', 'postcode', 'state', 'country', 'record_dated_at',
    'record_updated_at',
] %}

with person_records as not materialized (
    select
        * replace (
            -- an impossible birth date (after the run date, or before 1900) is a wrong value, not
            -- a fact: treated as missing, so the next record's birth date can win. identity/
            -- only drops dates outside 1900-01-02..2100-01-01 (and placeholders). Done here, in
            -- the fingerprinted input, so a customer is recomputed when a later run date makes
            -- the date plausible.
            case
                when date_of_birth between date '1900-01-01' and {{ run_date() }} then date_of_birth
            end as date_of_birth
        ),
        {{ source_priority('source_system') }} as source_priority
    from {{ ref('int_person_records_dated') }}
    where has_person_record
),

{{ changed_customers_cte('person_records', input_columns) }}

ranked as (
    select
        *,
        row_number() over (
            partition by customer_id
            order by
                source_priority asc,
                record_dated_at desc nulls last,
                record_updated_at desc nulls last,
                source_record_key asc
        ) as record_rank
    from person_records
    {{ only_changed_customers() }}
),

attributes as (
    select
        customer_id,
        arg_min(first_name, record_rank) filter (where first_name is not null) as first_name,
        arg_min(last_name, record_rank) filter (where last_name is not null) as last_name,
        arg_min(email, record_rank) filter (where email is not null) as email,
        arg_min(phone, record_rank) filter (where phone is not null) as phone,
        arg_min(date_of_birth, record_rank) filter (
            where date_of_birth is not null
        ) as date_of_birth,
        min(record_rank) filter (
            where coalesce(street, city, postcode) is not null
        ) as address_record_rank,
        {{ inputs_fingerprint(input_columns) }} as inputs_fingerprint
    from ranked
    group by customer_id
),

addresses as (
    select
        customer_id,
        record_rank,
        street,
        city,
        postcode,
        state,
        country
    from ranked
),

golden_records as (
    select
        attributes.customer_id,
        attributes.first_name,
        attributes.last_name,
        attributes.email,
        attributes.phone,
        addresses.street,
        addresses.city,
        addresses.postcode,
        addresses.state,
        addresses.country,
        attributes.date_of_birth,
        attributes.inputs_fingerprint
    from attributes
    left join addresses
        on
            attributes.customer_id = addresses.customer_id
            and attributes.address_record_rank = addresses.record_rank
)

{{ select_with_customers_without_inputs('golden_records') }}
