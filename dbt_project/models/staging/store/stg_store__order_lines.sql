-- One row per order line; unit_price and line_amount with the POS's precision (decimal(18, 4):
-- fuel per litre, three-decimal currencies), never rounded.
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
        cast(unit_price as decimal(18, 4)) as unit_price,
        cast(updated_at as timestamp) as updated_at,
        _loaded_at as loaded_at
    from source
)

select
    *,
    -- exact (an integer times 4 decimal places); ingestion quarantines a line whose amount would not fit
    cast(quantity * unit_price as decimal(18, 4)) as line_amount
from renamed
