-- One row per person record (source_system, source_record_id): the customer it resolved to and
-- the identifiers it carries. The way back from a customer to every source record.
-- Incremental by row (macros/incremental_rows.sql): only records whose row differs from the stored
-- one (a new customer or resolved_at in identity.customer_map, changed identifiers, a new or gone
-- record) are written again.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='source_record_key',
    on_schema_change='fail',
    post_hook="{{ delete_row_markers('customer_id') }}",
) }}

with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

person_records as (
    select * from {{ ref('stg_identity__person_records') }}
),

records as {% if is_incremental() %}materialized {% endif %}(
    select
        customer_records.source_record_key,
        customer_records.customer_id,
        customer_records.source_system,
        customer_records.source_record_id,
        person_records.email,
        person_records.phone,
        person_records.loyalty_card_number,
        person_records.web_user_id,
        person_records.web_anonymous_id,
        person_records.record_updated_at,
        customer_records.resolved_at
    from customer_records
    left join person_records
        on customer_records.source_record_key = person_records.source_record_key
)

{{ changed_keys_cte('records', 'source_record_key') }}

{{ select_changed_rows('records', 'source_record_key') }}
