-- One row per person record (source_system, source_record_id): the customer it resolved to and
-- the identifiers it carries. The way back from a customer to every source record.
with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

person_records as (
    select * from {{ ref('stg_identity__person_records') }}
)

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
