{#-
  int_consent_statements_unioned, incremental builds: the person records whose consent statements
  are recomputed (source_system, source_record_id, source_record_key), read before the model's
  table is updated:
  - records whose customer changed, new and gone ones (int_person_records_dated's log);
  - records with a source row loaded since the last build (the table's max(loaded_at)) or with no
    load time: identify events (the user record, or the anon: record of one sent before login), store customers (the POS upsert writes a changed row again), CSV
    contacts. Two selects per source, not one OR, so DuckDB skips the row groups loaded before;
  - web records whose stored statements came from a message loaded again since (it may now be
    another event or name another user);
  - CSV records whose date moved (a statement is dated by its row, else its list: stg_csv__contacts.contact_dated_at).
-#}
{% macro consent_records_to_rebuild() -%}
    {%- set since -%}
        coalesce((select max(built.loaded_at) from {{ this }} as built), timestamp '-infinity')
    {%- endset -%}
    select distinct
        records.source_system,
        records.source_record_id,
        records.source_system || '|' || records.source_record_id as source_record_key
    from (
        select
            split_part(logged.rebuild_key, '|', 1) as source_system,
            substr(logged.rebuild_key, length(split_part(logged.rebuild_key, '|', 1)) + 2) as source_record_id
        from ({{ logged_keys_to_rebuild('int_consent_statements_unioned') }}) as logged
        {%- for where in ['loaded_at > ' ~ since, 'loaded_at is null'] %}
            union all
            select 'csv', contact_id from {{ ref('stg_csv__contacts') }} where {{ where }}
            union all
            select 'store', store_customer_id from {{ ref('stg_store__customers') }} where {{ where }}
            union all
            select 'web', coalesce(user_record_id, anonymous_record_id) from {{ ref('stg_web__events') }}
            where event_type = 'identify' and coalesce(user_id, anonymous_id) is not null and {{ where }}
            union all
            select 'web', built.source_record_id
            from {{ this }} as built
            semi join (select web_event_id from {{ ref('stg_web__events') }} where {{ where }}) as reloaded
                on built.web_event_id = reloaded.web_event_id
        {%- endfor %}
        union all
        select 'csv', contacts.contact_id
        from {{ ref('stg_csv__contacts') }} as contacts
        anti join (
            select
                built.source_record_id,
                built.stated_at
            from {{ this }} as built
            where built.source_system = 'csv'
        ) as stored
            on contacts.contact_id = stored.source_record_id and contacts.contact_dated_at is not distinct from stored.stated_at
        where
            contacts.has_consent_email_marketing is not null
            or contacts.has_consent_sms_marketing is not null
            or contacts.has_consent_ad_targeting is not null
    ) as records (source_system, source_record_id)
    where records.source_record_id is not null
{%- endmacro %}

{#- the statements of one source, only of the records to rebuild on an incremental build
    (`prefix`: `where`, or `and` after the source's own filter) -#}
{% macro only_consent_records_to_rebuild(prefix, source_system, record_id, rebuild_all) -%}
    {%- if not rebuild_all %}
    {{ prefix }} {{ record_id }} in (
        select records_to_rebuild.source_record_id from records_to_rebuild
        where records_to_rebuild.source_system = '{{ source_system }}'
    )
    {%- endif -%}
{%- endmacro %}

{#- the stored table's column names (none on a full build) -#}
{% macro stored_column_names() -%}
    {%- if execute and is_incremental() -%}
        {{- return(adapter.get_columns_in_relation(this) | map(attribute='name') | list) -}}
    {%- endif -%}
    {{- return([]) -}}
{%- endmacro %}

{#- after the statements, on incremental builds: a marker row (key only, removed by the post-hook)
    for each recomputed record left without statements; when every record is recomputed, for each
    stored record without a statement now -#}
{% macro consent_markers(rebuild_all, stored_columns) -%}
    {%- if is_incremental() %}
        {%- if not rebuild_all %}
            union all by name
            select records_to_rebuild.source_record_key
            from records_to_rebuild
            anti join unpivoted on records_to_rebuild.source_record_key = unpivoted.source_record_key
        {%- elif 'source_record_key' in stored_columns %}
            union all by name
            select built.source_record_key
            from (select distinct source_record_key from {{ this }}) as built
            anti join unpivoted on built.source_record_key = unpivoted.source_record_key
        {%- endif %}
    {%- endif %}
{%- endmacro %}
