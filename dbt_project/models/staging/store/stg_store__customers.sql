-- One row per point-of-sale loyalty customer.
with source as (
    select * from {{ source('store', 'store_customers') }}
),

renamed as (
    select
        cast(customer_id as varchar) as store_customer_id,
        nullif(trim(loyalty_card_number), '') as loyalty_card_number,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        try_cast(birth_date as date) as birth_date,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        cast(is_marketing_opt_in as boolean) as is_marketing_opt_in,
        cast(created_at as timestamp) as created_at,
        cast(updated_at as timestamp) as updated_at,
        cast(marketing_opt_in_changed_at as timestamp) as marketing_opt_in_changed_at,
        _source_file as source_file,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select * from renamed
