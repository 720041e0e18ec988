{#-
  Narrowed data tests. cdp/dbt.py records, after a build whose every node passed, the time that
  build started (meta.dbt_tests_passed) and gives it to the next build in CDP_DBT_TESTS_SINCE.
  A test over a table whose rows carry the time they were (re)written (the raw tables'
  `_loaded_at`, set by ingestion to its batch's start and never changed afterwards) then only
  needs the rows written since: every older row was in a table that passed the same test.

  test_rows_since() is that time as a TIMESTAMP literal, or none - test every row - when the
  variable is absent: a plain `dbt build`, `--full-refresh`, the first build, a build after a
  failed one (the watermark is not moved, so the failed night's rows are tested again), or after
  a change to any test definition (cdp/dbt.py fingerprints them). Read at execution only, like
  run_date(), so a new value does not force a re-parse.
-#}
{% macro test_rows_since() -%}
    {%- set value = env_var('CDP_DBT_TESTS_SINCE', '') if execute else '' -%}
    {%- if value -%}
        cast('{{ value }}' as timestamp)
    {%- endif -%}
{%- endmacro %}
