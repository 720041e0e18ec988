{#-
  The orders (order_key, macros/order_key.sql) an incremental build of int_orders_with_lines
  recomputes (a pre-hook logs them for it, fct_orders and fct_order_lines, macros/change_log.sql):
  store orders, lines or stores loaded since the last build, store orders whose POS customer record
  int_person_records_dated logged as moved to another customer (without that log, or after its full
  build: compared with the map), and web orders that differ from the stored row or exist on one
  side only. Only for is_incremental(), in the context of int_orders_with_lines.
-#}
{% macro orders_to_rebuild() -%}
    {#- raw rows loaded after the last build; a NULL load time cannot be ordered, so it always counts #}
    {%- set loaded_since_last_build -%}
        (
            loaded_at > coalesce((select max(built.inputs_loaded_at) from built), timestamp '-infinity')
            or loaded_at is null
        )
    {%- endset %}
    with built as (
        select
            order_key,
            order_id,
            order_channel,
            store_customer_id,
            customer_id,
            ordered_at,
            total_amount,
            currency,
            inputs_loaded_at
        from {{ this }}
    ),

    store_customers as (
        select
            source_record_id,
            customer_id
        from {{ ref('stg_identity__customer_records') }}
        where source_system = 'store'
    ),

    web_orders as (
        select * from {{ ref('int_web_orders_deduplicated') }}
    ),

    built_web_orders as (
        select * from built
        where order_channel = 'web'
    ),

    reloaded_stores as (
        select stores.store_id from {{ ref('stg_store__stores') }} as stores
        where {{ loaded_since_last_build }}
    )

    select {{ order_key("'store'", 'store_orders.order_id') }} from {{ ref('stg_store__orders') }} as store_orders
    where {{ loaded_since_last_build }}
    union
    select {{ order_key("'store'", 'store_order_lines.order_id') }}
    from {{ ref('stg_store__order_lines') }} as store_order_lines
    where {{ loaded_since_last_build }}
    union
    select {{ order_key("'store'", 'store_orders.order_id') }} from {{ ref('stg_store__orders') }} as store_orders
    semi join reloaded_stores on store_orders.store_id = reloaded_stores.store_id
    union
    {% if change_log_rebuilds_all('int_orders_with_lines') -%}
        -- identity moved the order's POS customer record to another customer
        select built.order_key
        from built
        left join store_customers on built.store_customer_id = store_customers.source_record_id
        where
            built.order_channel = 'store'
            and built.customer_id is distinct from store_customers.customer_id
    {%- else -%}
        -- identity moved the order's POS customer record to another customer (or it is new or gone),
        -- as logged by int_person_records_dated
        select built.order_key
        from built
        where
            built.order_channel = 'store'
            and built.store_customer_id in (
                select substr(log_rows.rebuild_key, length('store|') + 1)
                from ({{ logged_keys_to_rebuild('int_orders_with_lines') }}) as log_rows
                where starts_with(log_rows.rebuild_key, 'store|')
            )
    {%- endif %}
    union
    -- web orders (a small table) that differ from the stored row or exist on one side only
    select {{ order_key("'web'", 'coalesce(web_orders.order_id, built_web.order_id)') }} as order_key
    from web_orders
    full outer join built_web_orders as built_web on web_orders.order_id = built_web.order_id
    where
        web_orders.order_id is null
        or built_web.order_id is null
        or web_orders.customer_id is distinct from built_web.customer_id
        or web_orders.ordered_at is distinct from built_web.ordered_at
        or web_orders.total_amount is distinct from built_web.total_amount
        or web_orders.currency is distinct from built_web.currency
        or web_orders.loaded_at is distinct from built_web.inputs_loaded_at
{%- endmacro %}
