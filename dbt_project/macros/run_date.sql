{#-
  The logical run date as a DATE literal. Business logic uses this instead of current_date so a
  rerun for the same day gives the same result. cdp/dbt.py always passes var('run_date'); a plain
  `dbt build` falls back to today's date, rendered once at compile time.
-#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if value is none or value == '' -%}
        {%- set value = modules.datetime.date.today().isoformat() -%}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{#-
  The first instant after the run date (exclusive upper bound, UTC). Customer aggregates only
  count activity before it, so re-running an older date after newer data has landed (a backfill)
  still describes the customer as of that date.
-#}
{% macro run_date_end() -%}
    (cast({{ run_date() }} as timestamp) + interval 1 day)
{%- endmacro %}
