{#-
  persist_docs (`+persist_docs` in dbt_project.yml) writing only the comments that are not already in
  place. dbt's default__persist_docs issues `comment on` for the relation and for every documented
  column on every build, and reads the relation's columns twice to do it (once in
  validate_doc_columns, once in duckdb__alter_column_comment): three round trips and ~550 comment
  statements per build, although an incremental model's table, and its comments, stay from one
  night to the next. This reads the stored comments in one query (duckdb_tables / duckdb_views /
  duckdb_columns) and writes, in one batch, only those that differ: none for an incremental model
  whose docs did not change, all of them for a table or view the build has just created. The
  comments written are the same (same columns, same `comment on` statements as dbt-duckdb's
  duckdb__alter_relation_comment / duckdb__alter_column_comment), so the result is unchanged.
  tests/dbt/test_dbt_docs.py checks the comments after a build and after an edit of a description.
-#}
{% macro duckdb__persist_docs(relation, model, for_relation, for_columns) -%}
    {%- set relation_docs = for_relation and config.persist_relation_docs() and model.description -%}
    {%- set column_docs = for_columns and config.persist_column_docs() and model.columns -%}
    {%- if relation_docs or column_docs -%}
        {%- set stored = stored_comments(relation) -%}
        {%- set statements = [] -%}
        {%- if relation_docs and stored.relation != model.description -%}
            {%- do statements.append(alter_relation_comment(relation, model.description)) -%}
        {%- endif -%}
        {%- if column_docs -%}
            {%- set documented = validate_doc_columns(relation, model.columns, stored.columns.keys() | list) -%}
            {%- for column_name in documented if column_name in stored.columns -%}
                {%- set comment = documented[column_name]['description'] -%}
                {%- if stored.columns[column_name] != comment -%}
                    {%- do statements.append(
                        'comment on column ' ~ relation ~ '.'
                        ~ (adapter.quote(column_name) if documented[column_name]['quote'] else column_name)
                        ~ ' is ' ~ duckdb_escape_comment(comment) ~ ';'
                    ) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
        {%- if statements -%}
            {%- do run_query(statements | join('\n')) -%}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- {relation: its comment or none, columns: {name: comment or none}} as stored in the warehouse -#}
{% macro stored_comments(relation) -%}
    {%- set rows = run_query(
        "select null as column_name, comment from duckdb_tables()"
        ~ stored_comments_filter(relation, 'table_name')
        ~ " union all select null, comment from duckdb_views()"
        ~ stored_comments_filter(relation, 'view_name')
        ~ " union all select column_name, comment from duckdb_columns()"
        ~ stored_comments_filter(relation, 'table_name')
    ) -%}
    {%- set stored = {'relation': none, 'columns': {}} -%}
    {%- for row in rows -%}
        {%- if row[0] is none -%}
            {%- do stored.update({'relation': row[1]}) -%}
        {%- else -%}
            {%- do stored.columns.update({row[0]: row[1]}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(stored) }}
{%- endmacro %}

{% macro stored_comments_filter(relation, name_column) -%}
    {{ " where database_name = '" ~ relation.database ~ "' and schema_name = '" ~ relation.schema
       ~ "' and " ~ name_column ~ " = '" ~ relation.identifier ~ "'" }}
{%- endmacro %}
