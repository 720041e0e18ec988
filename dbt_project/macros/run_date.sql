{#-
  The logical run date as a DATE literal. Business logic uses this instead of current_date so a
  rerun for the same day gives the same result. cdp/dbt.py passes it in the environment
  (CDP_DBT_RUN_DATE), not in --vars: dbt re-parses the whole project whenever --vars change, and
  the date changes every night. The variable is read only at execution (`execute`), so it never
  enters the parse and partial parsing still applies. A `--vars '{run_date: ...}'` given by hand
  wins; without either, today's date, rendered once at compile time.
-#}
{% macro run_date() -%}
    {%- set value = var('run_date', none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('CDP_DBT_RUN_DATE', '') -%}
    {%- endif -%}
    {%- if value is none or value == '' -%}
        {%- set value = modules.datetime.date.today().isoformat() -%}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{#-
  The pipeline run id, for audit columns: var('run_id') when given by hand, else
  CDP_DBT_RUN_ID (set by cdp/dbt.py, read at execution only, like the run date), else 'manual'.
-#}
{% macro run_id() -%}
    {%- set value = var('run_id', none) -%}
    {%- if (value is none or value == '') and execute -%}
        {%- set value = env_var('CDP_DBT_RUN_ID', '') -%}
    {%- endif -%}
    {{- value if value else 'manual' -}}
{%- endmacro %}

{#-
  The first instant after the run date (exclusive upper bound, UTC). Customer aggregates only
  count activity before it, so re-running an older date after newer data has landed (a backfill)
  still describes the customer as of that date.
-#}
{% macro run_date_end() -%}
    (cast({{ run_date() }} as timestamp) + interval 1 day)
{%- endmacro %}
