-- One row per order line.
with source as (
    select * from {{ source('store', 'store_order_lines') }}
),

renamed as (
    select
        cast(order_line_id as varchar) as order_line_id,
        cast(order_id as varchar) as order_id,
        trim(product_sku) as product_sku,
        trim(product_name) as product_name,
        nullif(lower(trim(category)), '') as category,
        cast(quantity as integer) as quantity,
        cast(unit_price as decimal(12, 2)) as unit_price,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source
)

select
    *,
    cast(quantity * unit_price as decimal(12, 2)) as line_amount
from renamed
