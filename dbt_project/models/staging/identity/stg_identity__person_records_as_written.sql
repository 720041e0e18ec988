-- One row per person record with its name and address as the source wrote them (trimmed): the
-- values a person reads in the golden record and exports hash by their own rules. identity.
-- person_records_standardised holds the matching keys ('obrien', '9 2nd ct'), not display values.
with source as (
    select * from {{ source('identity', 'person_records') }}
),

renamed as (
    select
        source_system || '|' || source_record_id as source_record_key,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state
    from source
)

select * from renamed
