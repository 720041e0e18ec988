-- One row per person record (source_system, source_record_id): the customer it resolved to and
-- the identifiers it carries. The way back from a customer to every source record.
-- A view over int_person_records_dated, which is built from the same join of customer_map and
-- the standardised person records and is incremental by row: one table and one row comparison
-- per night instead of two.
{{ config(materialized='view') }}

select
    source_record_key,
    customer_id,
    source_system,
    source_record_id,
    email,
    phone,
    loyalty_card_number,
    web_user_id,
    web_anonymous_id,
    record_updated_at,
    resolved_at
from {{ ref('int_person_records_dated') }}
