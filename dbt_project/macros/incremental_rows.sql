{#-
  Models rebuilt per key by comparing rows (int_person_records_dated): the model's select is a CTE
  with exactly the columns of {{ this }} but its last, `written_at`, in the same order; a build hashes
  each fresh row and each stored row, and replaces (delete+insert on the key) only the keys whose
  hashes differ or exist on one side only. Comparing two hashes per key costs a fraction of writing
  every row again; nothing about how the inputs changed is assumed (a customer_map diff, a
  re-standardised record, a list date, a record gone).
-#}

{#- Shared by every model rebuilt per key with delete+insert (this file, incremental_customers.sql,
    the order chain): on incremental builds, a filter to the keys in the CTE `changed`, and marker
    rows (key only) for changed keys without a fresh row, which replace the stored row and which
    delete_row_markers() removes. Both render nothing on a full build. -#}
{% macro only_changed_keys(key, changed) -%}
    {%- if is_incremental() -%}
        where {{ key }} in (select {{ changed }}.{{ key }} from {{ changed }})
    {%- endif -%}
{%- endmacro %}

{% macro markers_for_keys_without_rows(relation, key, changed) -%}
    {%- if is_incremental() %}
        union all by name
        select {{ changed }}.{{ key }}
        from {{ changed }}
        anti join {{ relation }} on {{ changed }}.{{ key }} = {{ relation }}.{{ key }}
    {%- endif -%}
{%- endmacro %}

{#- The keys whose fresh row (CTE `fresh`) differs from the stored one. Only for is_incremental().
    The stored row is compared without `written_at` (the time the row was last written, which the
    fresh row does not have yet); a table built before that column existed gets it from
    on_schema_change='sync_all_columns' after this query, so it may not have it yet. -#}
{% macro keys_of_changed_rows(fresh, key) -%}
    {%- set stored_columns = (adapter.get_columns_in_relation(this) | map(attribute='name') | list) if execute else [] -%}
    select coalesce(fresh_rows.{{ key }}, built_rows.{{ key }}) as {{ key }}
    from (
        select
            {{ fresh }}.{{ key }},
            hash({{ fresh }}) as row_hash
        from {{ fresh }}
    ) as fresh_rows
    full outer join (
        select
            built.{{ key }},
            hash(built) as row_hash
        from
            {% if 'written_at' in stored_columns -%}
                (select * exclude (written_at) from {{ this }}) as built
            {%- else -%}
                {{ this }} as built
            {%- endif %}
    ) as built_rows
        on fresh_rows.{{ key }} = built_rows.{{ key }}
    where fresh_rows.row_hash is distinct from built_rows.row_hash
{%- endmacro %}

{#- `, changed_keys as (...)` after the CTE `fresh` on incremental builds; nothing otherwise. -#}
{% macro changed_keys_cte(fresh, key) -%}
    {%- if is_incremental() -%}
        ,

        changed_keys as (
            {{ keys_of_changed_rows(fresh, key) }}
        )
    {%- endif -%}
{%- endmacro %}

{#- The model's final select: all of `fresh` on a full build; on an incremental one the changed keys'
    rows, plus a marker row (key only, every other column NULL) for each changed key without a fresh
    row: it replaces the stored row and delete_row_markers() removes it. Each row gets `written_at`
    (macros/written_at.sql), so the model's key test checks only the rows written since the last
    passing build. -#}
{% macro select_changed_rows(fresh, key) -%}
    select
        *,
        {{ build_started_at() }} as written_at
    from {{ fresh }}
    {{ only_changed_keys(key, 'changed_keys') }}
    {{- markers_for_keys_without_rows(fresh, key, 'changed_keys') }}
{%- endmacro %}

{#- post-hook: drop the marker rows, told apart by a column that is never NULL in a real row -#}
{% macro delete_row_markers(never_null_column) -%}
    delete from {{ this }} where {{ never_null_column }} is null
{%- endmacro %}

{#- int_person_records_dated's pre-hook: the records whose customer differs from the stored row, or
    that exist on one side only (the consumers of its log see every map change once) -#}
{% macro records_with_another_customer() -%}
    select coalesce(current_records.source_record_key, built.source_record_key)
    from {{ ref('stg_identity__customer_records') }} as current_records
    full outer join {{ this }} as built on current_records.source_record_key = built.source_record_key
    where current_records.customer_id is distinct from built.customer_id
{%- endmacro %}
