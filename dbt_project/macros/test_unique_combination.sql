{#-
  Generic test: `columns` form a compound primary key: no two rows share the same values in
  them, and none of them is NULL. Returns one row per offending combination (NULLs group together)
  with how often it occurs. One query and one dbt node where unique + a not_null per column took
  several, like primary_key. Written here because dbt_utils cannot be installed offline.
-#}
{% test unique_combination(model, columns) %}
    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
    having count(*) > 1 or {{ columns | join(' is null or ') }} is null
{% endtest %}
