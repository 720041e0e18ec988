{#-
  The key of an order across channels, '<channel>|<order_id>' ('store|1', 'web|WEB-00000001'): the
  POS numbers its orders, the web tracking plan names its own, and nothing stops a web order_id
  from equalling a POS one, so order_id alone is no key. `channel` and `order_id` are SQL
  expressions. The order models (int_orders_with_lines, fct_orders, fct_order_lines) are keyed by
  it; order_id keeps the channel's own id for analysts.
-#}
{% macro order_key(channel, order_id) -%}
    {{ channel }} || '|' || {{ order_id }}
{%- endmacro %}
