-- One row per person record with its name and address as the source wrote them: the values a
-- person reads in the golden record and exports hash by their own rules. identity.
-- person_records_standardised holds the matching keys ('obrien', '9 2nd ct'), not display values.
-- Whitespace and zero-width characters at either end go, as identity strips them (a tab or a
-- zero-width space is not part of a name); what is left empty is NULL (macros/strip_edges.sql).
with source as (
    select * from {{ source('identity', 'person_records') }}
),

renamed as (
    select
        source_system || '|' || source_record_id as source_record_key,
        {{ strip_edges('first_name') }} as first_name,
        {{ strip_edges('last_name') }} as last_name,
        {{ strip_edges('street') }} as street,
        {{ strip_edges('city') }} as city,
        {{ strip_edges('postcode') }} as postcode,
        {{ strip_edges('state') }} as state
    from source
)

select * from renamed
