{#-
  Generic test: `column_name` is a primary key, never NULL and never repeated. One query and one
  dbt node instead of the two of `unique` + `not_null` (a nightly build runs dozens of key tests
  and each node has a fixed cost). Returns one row per offending key value (NULL counts as one)
  with how often it occurs.
-#}
{% test primary_key(model, column_name) %}
    select
        {{ column_name }} as key_value,
        count(*) as occurrences
    from {{ model }}
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
