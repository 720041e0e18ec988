-- One row per store.
with source as (
    select * from {{ source('store', 'store_stores') }}
),

renamed as (
    select
        cast(store_id as varchar) as store_id,
        trim(store_name) as store_name,
        nullif(trim(city), '') as city,
        nullif(trim(state), '') as state,
        cast(opened_at as timestamp) as opened_at,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source
)

select * from renamed
