{#-
  Per-customer incremental models (int_*_per_customer, int_*_aggregated_to_customers, the golden
  record, resolved consents). Each one keeps, beside every customer's row, `inputs_fingerprint`:
  a hash summed over the input rows the row was computed from, in the form the model reads them
  (customer attribution, run-date filters and flags included). A build hashes all input rows again
  (one cheap aggregate), recomputes only the customers whose fingerprint changed or exists on one
  side only, and replaces their rows (delete+insert on customer_id). So merges, splits, new,
  updated, re-attributed or deleted source rows, and rows that a later run date now counts, all
  rebuild exactly the customers they affect, without watermarks or identity history.

  A customer left without input rows (merged away, or its last call moved to another customer)
  gets a row with a NULL fingerprint in the incremental batch: delete+insert replaces its old row
  with that marker, and the post-hook `delete_customers_without_inputs()` removes it.
-#}

{% macro inputs_fingerprint(columns) -%}
    {#- sum, not bit_xor: two identical input rows must not cancel out -#}
    sum(hash({{ columns | join(', ') }}))
{%- endmacro %}

{#- inputs_fingerprint() of a single input row, for a model with one input row per customer -#}
{% macro row_inputs_fingerprint(columns) -%}
    cast(hash({{ columns | join(', ') }}) as hugeint)
{%- endmacro %}

{#- Customers to recompute: fingerprint of `inputs` (a CTE with customer_id and `columns`)
    differs from the stored one, or is on one side only. Only for is_incremental(). -#}
{% macro customers_with_changed_inputs(inputs, columns) -%}
    select coalesce(fresh.customer_id, built.customer_id) as customer_id
    from (
        select
            customer_id,
            {{ inputs_fingerprint(columns) }} as inputs_fingerprint
        from {{ inputs }}
        group by customer_id
    ) as fresh
    full outer join (
        select
            customer_id,
            inputs_fingerprint
        from {{ this }}
    ) as built
        on fresh.customer_id = built.customer_id
    where fresh.inputs_fingerprint is distinct from built.inputs_fingerprint
{%- endmacro %}

{#- The `changed_customers` CTE (followed by a comma) on incremental builds; nothing otherwise. -#}
{% macro changed_customers_cte(inputs, columns) -%}
    {%- if is_incremental() -%}
        changed_customers as (
            {{ customers_with_changed_inputs(inputs, columns) }}
        ),
    {%- endif -%}
{%- endmacro %}

{#- The filter of an aggregate over inputs to the changed customers on incremental builds. -#}
{% macro only_changed_customers() -%}
    {{ only_changed_keys('customer_id', 'changed_customers') }}
{%- endmacro %}

{#- The model's final select: `aggregated`, plus on incremental builds a marker row (customer_id
    only, NULL elsewhere, removed by the post-hook) for each changed customer left without input rows. -#}
{% macro select_with_customers_without_inputs(aggregated) -%}
    select * from {{ aggregated }}
    {{- markers_for_keys_without_rows(aggregated, 'customer_id', 'changed_customers') }}
{%- endmacro %}

{% macro delete_customers_without_inputs() -%}
    {{ delete_row_markers('inputs_fingerprint') }}
{%- endmacro %}

{#-
  Post-hook of the per-customer models int_customer_profiles_joined is built from: log the
  customers this build recomputed for it (macros/change_log.sql), so that it rebuilds those instead
  of comparing every customer's upstream fingerprints. They are the rows of this build's batch, the
  temp table dbt's incremental materialization builds the model's select into (every changed
  customer, marker rows included) and keeps until the node ends. A full build, or no such temp
  table (another materialization), logs the NULL key: "compare every customer".
-#}
{% macro log_recomputed_customers(consumer='int_customer_profiles_joined') -%}
    {%- set batch = none -%}
    {%- if execute and is_incremental() -%}
        {%- set found = run_query(
            "select table_name from duckdb_tables() where temporary and starts_with(table_name, '"
            ~ this.identifier ~ "__dbt_tmp') order by table_name desc limit 1"
        ) -%}
        {%- if found.rows | length > 0 -%}
            {%- set batch = found.columns[0].values()[0] -%}
        {%- endif -%}
    {%- endif -%}
    {{ create_change_log(consumer) }};
    insert into {{ change_log(consumer) }} (rebuild_key)
    {% if batch is not none -%}
        select distinct batch.customer_id from temp.main."{{ batch }}" as batch
        where batch.customer_id is not null
    {%- else -%}
        select null
    {%- endif %}
{%- endmacro %}
