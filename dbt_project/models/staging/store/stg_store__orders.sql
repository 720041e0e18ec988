-- One row per point-of-sale order; amounts in the order's currency, with the POS's precision
-- (decimal(18, 4), as ingestion stores them: never rounded to the currency's minor unit).
with source as (
    select * from {{ source('store', 'store_orders') }}
),

renamed as (
    select
        cast(order_id as varchar) as order_id,
        cast(customer_id as varchar) as store_customer_id,
        cast(store_id as varchar) as store_id,
        cast(ordered_at as timestamp) as ordered_at,
        lower(trim(status)) as order_status,
        cast(total_amount as decimal(18, 4)) as total_amount,
        nullif(upper(trim(currency)), '') as currency,
        cast(updated_at as timestamp) as updated_at,
        _source_file as source_file,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select
    *,
    order_status = 'completed' as is_completed
from renamed
