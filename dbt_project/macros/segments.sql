{#-
  Segments as code: var('segments') holds the list from dbt_project/segments.yml (cdp/dbt.py
  passes it; dbt_project.yml has the same list as default). These macros validate it and
  compile it to SQL. cdp/dbt.py also checks every condition against the dim_customers columns
  before dbt starts, so a typo fails early with the segment's name.
-#}

{% macro segment_definitions() -%}
    {%- set segments = var('segments') or [] -%}
    {%- set purposes = ['email_marketing', 'sms_marketing', 'ad_targeting', 'none'] -%}
    {%- set seen = [] -%}
    {%- for segment in segments -%}
        {%- set name = segment.get('name') -%}
        {%- if not name or not modules.re.match('^[a-z][a-z0-9_]*$', name | string) -%}
            {{ exceptions.raise_compiler_error(
                "segments.yml: segment #" ~ loop.index ~ " has name " ~ (name | tojson)
                ~ "; expected lower_snake_case letters, digits and underscores") }}
        {%- endif -%}
        {%- if name in seen -%}
            {{ exceptions.raise_compiler_error("segments.yml: segment '" ~ name ~ "' is defined twice") }}
        {%- endif -%}
        {%- do seen.append(name) -%}
        {%- if segment.get('consent_purpose') not in purposes -%}
            {{ exceptions.raise_compiler_error(
                "segments.yml: segment '" ~ name ~ "' has consent_purpose "
                ~ (segment.get('consent_purpose') | tojson) ~ "; expected one of " ~ purposes | join(', ')) }}
        {%- endif -%}
        {%- set condition = (segment.get('condition') or '') | string | trim -%}
        {%- if condition == '' or ';' in condition or '--' in condition -%}
            {{ exceptions.raise_compiler_error(
                "segments.yml: segment '" ~ name ~ "' needs a `condition`: one SQL boolean expression"
                ~ " over dim_customers columns, without ';' or '--' comments") }}
        {%- endif -%}
    {%- endfor -%}
    {{- return(segments) -}}
{%- endmacro %}

{% macro sql_string(value) -%}
    '{{ (value if value is not none else '') | string | replace("'", "''") }}'
{%- endmacro %}
