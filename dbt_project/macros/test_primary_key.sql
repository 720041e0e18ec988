{#-
  Generic test: `column_name` is a primary key, never NULL and never repeated. One query and one
  dbt node instead of the two of `unique` + `not_null` (a nightly build runs dozens of key tests
  and each node has a fixed cost). Returns one row per offending key value (NULL counts as one)
  with how often it occurs.

  The keys are first grouped by their 64-bit hash, which is much cheaper than grouping the text
  keys themselves over millions of rows (web events, order lines). Equal keys have equal hashes,
  so every offending key is among the hashes seen twice (or with a NULL); only the rows of those
  hashes are grouped again by the key itself, so a hash collision cannot make the test fail.
-#}
{% test primary_key(model, column_name) %}
    with candidate_hashes as (
        select hash({{ column_name }}) as key_hash
        from {{ model }}
        group by key_hash
        having count(*) > 1 or count({{ column_name }}) < count(*)
    )

    select
        {{ column_name }} as key_value,
        count(*) as occurrences
    from {{ model }}
    semi join candidate_hashes on hash({{ column_name }}) = candidate_hashes.key_hash
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
