{#-
  Generic test: `column_name` is a primary key, never NULL and never repeated. One query and one
  dbt node instead of the two of `unique` + `not_null` (a nightly build runs dozens of key tests
  and each node has a fixed cost). Returns one row per offending key value (NULL counts as one)
  with how often it occurs.

  The keys are first grouped by their 64-bit hash, which is much cheaper than grouping the text
  keys themselves over millions of rows (web events, order lines). Equal keys have equal hashes,
  so every offending key is among the hashes seen twice (or with a NULL); only the rows of those
  hashes are grouped again by the key itself, so a hash collision cannot make the test fail.

  `written_at` (optional): a column holding when each row was written, for tables whose rows are
  only ever inserted with the current time there and never updated in place (the raw tables'
  `_loaded_at`). When the last build whose every test passed is known (test_rows_since()), only
  the hashes of the keys written since then are candidates, checked against the whole table:
  the table passed then, and deleting rows cannot repeat a key, so a key repeated now has a row
  written since (the other copy may be old), and a NULL key is in a row written since.

  `written_by_build` (with `written_at`): the column holds the start of the dbt build that wrote
  the row (the incremental models' `written_at`, macros/written_at.sql), and the watermark is the
  start of the last passing build, so the rows stamped with exactly the watermark were written by
  that build, whose own key test checked them: only later stamps count as written since. (A raw
  row's `_loaded_at` equal to the watermark is a load's start, which the watermark is moved back to
  when that load ended after the build started, so those rows count.)
-#}
{% test primary_key(model, column_name, written_at=none, written_by_build=false) %}
    with candidate_hashes as (
        {% if written_at and test_rows_since() -%}
            select hash({{ column_name }}) as key_hash
            from {{ model }}
            where {{ written_at }} {{ '>' if written_by_build else '>=' }} {{ test_rows_since() }}
            union
            -- a row without a write time cannot be placed before the watermark: it counts as new
            select hash({{ column_name }}) as key_hash
            from {{ model }}
            where {{ written_at }} is null
        {%- else -%}
            select hash({{ column_name }}) as key_hash
            from {{ model }}
            group by key_hash
            having count(*) > 1 or count({{ column_name }}) < count(*)
        {%- endif %}
    )

    select
        {{ column_name }} as key_value,
        count(*) as occurrences
    from {{ model }}
    semi join candidate_hashes on hash({{ column_name }}) = candidate_hashes.key_hash
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
