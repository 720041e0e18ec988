{#-
  The web orders an incremental build of int_web_orders_deduplicated recomputes (its pre-hook logs
  them for int_web_order_lines_extracted, macros/change_log.sql): every order with an event that
  fct_web_events wrote after this table's latest `events_written_at`, whether the event is one of
  the order's Order Completed events now or was its chosen event before (a reload can turn it into
  another event or give it another order_id).

  fct_web_events writes rows only whole, stamped with the start of the build that wrote them
  (`written_at`, macros/written_at.sql), so a visitor it rebuilt (new or reloaded events, a
  customer re-attributed by identity) shows as rows stamped after every row this table has seen:
  its `events_written_at` values are stamps of rows it has already read, and it reads every row
  stamped after the latest of them. A NULL stamp cannot be ordered and always counts. Two selects,
  not one OR, so that DuckDB can skip the row groups written before the watermark.
  Only for is_incremental(), in the context of int_web_orders_deduplicated.
-#}
{% macro web_orders_to_rebuild() -%}
    with rewritten_events as materialized (
        select
            written.web_event_id,
            written.event_name,
            written.order_id
        from {{ ref('fct_web_events') }} as written
        where
            written.written_at > coalesce(
                (select max(built.events_written_at) from {{ this }} as built), timestamp '-infinity'
            )
        union all
        select
            written.web_event_id,
            written.event_name,
            written.order_id
        from {{ ref('fct_web_events') }} as written
        where written.written_at is null
    )

    select rewritten_events.order_id from rewritten_events
    where rewritten_events.event_name = 'Order Completed'
    union
    select built.order_id from {{ this }} as built
    semi join rewritten_events on built.web_event_id = rewritten_events.web_event_id
{%- endmacro %}
