-- One row per person record (source_system, source_record_id) with its resolved customer.
with source as (
    select * from {{ source('identity', 'customer_map') }}
),

renamed as (
    select
        source_system,
        source_record_id,
        source_system || '|' || source_record_id as source_record_key,
        customer_id,
        cast(resolved_at as timestamp) as resolved_at
    from source
)

select * from renamed
