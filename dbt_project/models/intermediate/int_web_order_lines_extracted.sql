-- One row per product of an online order (properties.products of Order Completed events).
-- Incremental, by order (delete+insert on order_id, an order's lines replaced whole): the orders
-- int_web_orders_deduplicated logged as recomputed (macros/change_log.sql; every order without a
-- log or after its full build). Each recomputed order also gets a marker row (order_id only), so
-- an order that lost its lines or its row loses its old lines; the post-hook deletes the markers
-- and empties the log.
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='order_id',
    on_schema_change='fail',
    post_hook=[
        "{{ delete_row_markers('order_line_id') }}",
        "{{ clear_change_log('int_web_order_lines_extracted') }}",
    ],
) }}

with
{% if is_incremental() %}
    changed_orders as (
        {% if change_log_rebuilds_all('int_web_order_lines_extracted') -%}
            select web_orders.order_id from {{ ref('int_web_orders_deduplicated') }} as web_orders
            union
            select built.order_id from {{ this }} as built
        {%- else -%}
            select log_rows.rebuild_key as order_id
            from ({{ logged_keys_to_rebuild('int_web_order_lines_extracted') }}) as log_rows
        {%- endif %}
    ),
{% endif %}

web_orders as (
    select * from {{ ref('int_web_orders_deduplicated') }}
    {{ only_changed_keys('order_id', 'changed_orders') }}
),

products as (
    select
        order_id,
        unnest(json_extract(properties, '$.products[*]')) as product,
        generate_subscripts(json_extract(properties, '$.products[*]'), 1) as line_number
    from web_orders
),

typed as (
    select
        order_id,
        line_number,
        product,
        -- as stg_web__events.order_revenue: a JSON number or a plain decimal string, 4 decimal
        -- places, NULL for anything else ('1_000', '1e3') or when it does not fit
        {{ json_amount("product -> 'price'") }} as unit_price,
        -- a whole number of units: a JSON integer (or a whole JSON number such as 2.0) or a string
        -- of digits; one unit when not sent (absent or JSON null); NULL for anything else (2.5,
        -- '2.5', '1_000', ' 3 ': DuckDB's cast rounds or reinterprets them) or beyond integer
        case
            when json_type(product -> 'quantity') is null or json_type(product -> 'quantity') = 'NULL' then 1
            when json_type(product -> 'quantity') in ('BIGINT', 'UBIGINT')
                then try_cast(product ->> 'quantity' as integer)
            when json_type(product -> 'quantity') = 'DOUBLE'
                and cast(product ->> 'quantity' as double) = trunc(cast(product ->> 'quantity' as double))
                then try_cast(cast(product ->> 'quantity' as double) as integer)
            when json_type(product -> 'quantity') = 'VARCHAR'
                and regexp_full_match(product ->> 'quantity', '[0-9]+')
                then try_cast(product ->> 'quantity' as integer)
        end as quantity
    from products
),

lines as (
    select
        order_id || ':' || cast(line_number as varchar) as order_line_id,
        order_id,
        product ->> 'product_id' as product_sku,
        product ->> 'name' as product_name,
        lower(product ->> 'category') as category,
        quantity,
        unit_price,
        -- NULL when either is NULL (unreadable): the line still counts, without units or amount
        try_cast(quantity * unit_price as decimal(18, 4)) as line_amount
    from typed
)

select * from lines
{%- if is_incremental() %}
    union all by name
    -- one marker per recomputed order: delete+insert then drops the lines it no longer has
    select changed_orders.order_id from changed_orders
{%- endif %}
