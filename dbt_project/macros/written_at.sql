{#-
  `written_at` of the incremental fact and record models (fct_web_events, fct_web_sessions,
  fct_orders, fct_order_lines, int_orders_with_lines, int_person_records_dated): when the build
  that (re)wrote the row started. An audit column, like the raw tables' `_loaded_at`: a row is
  only ever written whole by a build (delete+insert) and never updated in place, so the model's key
  test can check only the keys written since the last build whose tests all passed, against the
  whole table (`primary_key` with `written_at`, macros/test_primary_key.sql).

  cdp/dbt.py passes the build's start, the time it records as that build's watermark, in
  CDP_DBT_BUILD_STARTED_AT; read at execution only (like run_date()), so partial parsing still
  applies. Without it (a plain `dbt build`) the time the statement's transaction started, which
  is later than the start of any build recorded before it. A full refresh and a build after it
  differ in this column only, which is why it is left out when tests compare them.
-#}
{% macro build_started_at() -%}
    {%- set value = env_var('CDP_DBT_BUILD_STARTED_AT', '') if execute else '' -%}
    {%- if value -%}
        cast('{{ value }}' as timestamp)
    {%- else -%}
        cast(now() as timestamp)
    {%- endif -%}
{%- endmacro %}
