-- One row per contact row of a marketing / CRM CSV list.
with source as (
    select * from {{ source('csv', 'csv_contacts') }}
),

renamed as (
    select
        contact_id,
        lower(trim(list_type)) as list_type,
        list_file,
        row_number as list_row_number,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        try_cast(birth_date as date) as birth_date,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        nullif(trim(company_name), '') as company_name,
        cast(consent_email as boolean) as has_consent_email_marketing,
        cast(consent_sms as boolean) as has_consent_sms_marketing,
        cast(consent_ads as boolean) as has_consent_ad_targeting,
        nullif(trim(source_campaign), '') as source_campaign,
        extra,
        _source_file as source_file,
        _source_line as source_line,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
