-- One row per standardised person record, the attributes identity resolution compared.
with source as (
    select * from {{ source('identity', 'person_records_standardised') }}
),

renamed as (
    select
        source_system,
        source_record_id,
        source_system || '|' || source_record_id as source_record_key,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        try_cast(date_of_birth as date) as date_of_birth,
        nullif(trim(email), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        nullif(trim(web_user_id), '') as web_user_id,
        nullif(trim(web_anonymous_id), '') as web_anonymous_id,
        nullif(trim(loyalty_card_number), '') as loyalty_card_number,
        cast(record_updated_at as timestamp) as record_updated_at
    from source
)

select * from renamed
