{#-
  Change logs between incremental models. An incremental model that rebuilds some keys tells the
  incremental model built from it which of its keys to rebuild, so that one does not compare the two
  tables whole to find them (fct_web_sessions grouped every event of fct_web_events each night).
  The log is a table named after the consumer, intermediate.<consumer>__keys_to_rebuild:
  - the producer appends the keys in a pre-hook, inside the transaction of its own build (a failed
    build logs nothing); a full build of the producer logs a NULL key: "rebuild every key";
  - the consumer rebuilds the logged keys and empties the log in a post-hook, inside its own
    transaction: a consumer that fails or is skipped leaves the keys for the next build, which then
    rebuilds those of both nights. A log that does not exist yet (a warehouse built before the log
    was introduced, or a consumer built alone) also means "rebuild every key", and a log is created
    holding the NULL key for the same reason (create_change_log).
-#}

{% macro change_log_name(consumer) -%}
    {{- return(consumer ~ '__keys_to_rebuild') -}}
{%- endmacro %}

{% macro change_log(consumer) -%}
    "{{ this.database }}"."intermediate"."{{ change_log_name(consumer) }}"
{%- endmacro %}

{#- Creates the log when it does not exist yet, holding the NULL key: the keys of the builds before
    it are unknown (a warehouse built before the log existed, or a dropped log), so the consumer
    rebuilds every key once, as it would on finding no log. Without it a producer's hook would
    create the log with tonight's keys only, and whatever the consumer missed before was lost. -#}
{% macro create_change_log(consumer) -%}
    create or replace temp table change_log_was_missing as
    select count(*) = 0 as missing
    from information_schema.tables
    where
        table_catalog = '{{ this.database }}'
        and table_schema = 'intermediate'
        and table_name = '{{ change_log_name(consumer) }}';
    create table if not exists {{ change_log(consumer) }} (rebuild_key varchar);
    insert into {{ change_log(consumer) }} (rebuild_key)
    select cast(null as varchar) from change_log_was_missing where missing;
    drop table change_log_was_missing
{%- endmacro %}

{#- producer pre-hook: append `keys_sql` (one column) to the log of each of `consumers` (a name or a
    list) on incremental builds, the NULL key on full ones -#}
{% macro log_keys_to_rebuild(consumers, keys_sql) -%}
    {%- set consumers = [consumers] if consumers is string else consumers -%}
    create or replace temp table keys_to_rebuild as
    {% if is_incremental() -%}
        select distinct cast(log_rows.rebuild_key as varchar) as rebuild_key
        from ({{ keys_sql }}) as log_rows (rebuild_key)
        where log_rows.rebuild_key is not null
    {%- else -%}
        select cast(null as varchar) as rebuild_key
    {%- endif %};
    {%- for consumer in consumers %}
        {{ create_change_log(consumer) }};
        insert into {{ change_log(consumer) }} (rebuild_key) select rebuild_key from keys_to_rebuild;
    {%- endfor %}
    drop table keys_to_rebuild
{%- endmacro %}

{#- the logged keys, for the producer's own build and the consumer's -#}
{% macro logged_keys_to_rebuild(consumer) -%}
    select distinct log_rows.rebuild_key from {{ change_log(consumer) }} as log_rows
    where log_rows.rebuild_key is not null
{%- endmacro %}

{#- consumer, while rendering: true when every key must be rebuilt (no log, or a NULL key in it) -#}
{% macro change_log_rebuilds_all(consumer) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {%- set found = run_query(
        "select count(*) from information_schema.tables where table_catalog = '" ~ this.database
        ~ "' and table_schema = 'intermediate' and table_name = '" ~ change_log_name(consumer) ~ "'"
    ).columns[0].values()[0] -%}
    {%- if found == 0 -%}
        {{- return(true) -}}
    {%- endif -%}
    {%- set nulls = run_query(
        "select count(*) from " ~ change_log(consumer) ~ " where rebuild_key is null"
    ).columns[0].values()[0] -%}
    {{- return(nulls > 0) -}}
{%- endmacro %}

{#- consumer post-hook: the logged keys are rebuilt (or a full build made them moot) -#}
{% macro clear_change_log(consumer) -%}
    {{ create_change_log(consumer) }};
    delete from {{ change_log(consumer) }}
{%- endmacro %}
