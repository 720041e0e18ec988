-- One row per person record of a resolved customer, with the time that dates its attributes.
-- A CSV record's own timestamp is the time its list was loaded, so an old list loaded late would
-- look newest: it is dated by its row's own date, else its list (stg_csv__contacts.contact_dated_at). Survivorship
-- (int_customer_golden_record) and first/last seen (int_identifiers_per_customer) both read this.
-- Names and addresses are the record's values as written (stg_identity__person_records_as_written),
-- not identity's matching keys ('obrien', '9 2nd ct'), wherever standardisation kept a value: a
-- placeholder it nulled stays NULL, so each attribute is missing in the same records as before and
-- survivorship picks the same record. E-mail, phone and country stay standardised (lower case,
-- E.164, ISO code): the forms people and exports read. A record identity has not written as
-- written (never in production) shows its standardised value.
-- It also carries the record's other identifiers and resolved_at, so that bridge_customer_records
-- is a view over it rather than a second table built from the same join and compared row by row.
-- Incremental by row (macros/incremental_rows.sql): only records whose row differs from the stored
-- one (customer, attributes, identifiers, record date, resolved_at; new or gone records) are written
-- again. sync_all_columns: a column added to the model is added to a table built before it (NULL,
-- at the end), and the row comparison then rewrites every record once with its values; a column
-- removed from the model is dropped from the table (left there, every row would differ every night).
-- The pre-hook logs the records whose customer changed (new and gone ones included) for fct_web_events,
-- int_orders_with_lines and int_consent_statements_unioned (macros/change_log.sql), which would
-- otherwise compare every event, order and statement with identity.customer_map to find them; they
-- depend on this model so they build after it.
{%- set attribute_columns = [
    'first_name', 'last_name', 'date_of_birth', 'email', 'phone', 'street', 'city', 'postcode',
    'state', 'country',
] %}
{%- set as_written_columns = ['first_name', 'last_name', 'street', 'city', 'postcode', 'state'] %}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='source_record_key',
    on_schema_change='sync_all_columns',
    pre_hook="{{ log_keys_to_rebuild(['fct_web_events', 'int_orders_with_lines', 'int_consent_statements_unioned'], records_with_another_customer()) }}",
    post_hook="{{ delete_row_markers('customer_id') }}",
) }}

with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

person_records as (
    select * from {{ ref('stg_identity__person_records') }}
),

as_written as (
    select * from {{ ref('stg_identity__person_records_as_written') }}
),

csv_contacts as (
    select
        contact_id,
        contact_dated_at
    from {{ ref('stg_csv__contacts') }}
),

records as {% if is_incremental() %}materialized {% endif %}(
    select
        customer_records.customer_id,
        customer_records.source_system,
        customer_records.source_record_id,
        customer_records.source_record_key,
        person_records.source_record_key is not null as has_person_record,
        {% for column in attribute_columns -%}
            {% if column in as_written_columns -%}
                case
                    when person_records.{{ column }} is not null
                        then coalesce(as_written.{{ column }}, person_records.{{ column }})
                end as {{ column }},
            {% else -%}
                person_records.{{ column }},
            {% endif -%}
        {% endfor -%}
        person_records.record_updated_at,
        case
            when customer_records.source_system = 'csv' then csv_contacts.contact_dated_at
            else person_records.record_updated_at
        end as record_dated_at,
        person_records.loyalty_card_number,
        person_records.web_user_id,
        person_records.web_anonymous_id,
        customer_records.resolved_at
    from customer_records
    left join person_records
        on customer_records.source_record_key = person_records.source_record_key
    left join as_written
        on person_records.source_record_key = as_written.source_record_key
    left join csv_contacts
        on
            customer_records.source_system = 'csv'
            and customer_records.source_record_id = csv_contacts.contact_id
)

{{ changed_keys_cte('records', 'source_record_key') }}

{{ select_changed_rows('records', 'source_record_key') }}
