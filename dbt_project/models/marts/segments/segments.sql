-- One row per segment defined in dbt_project/segments.yml (passed in as var('segments')).
{%- set segments = segment_definitions() %}

with definitions as (
    {%- for segment in segments %}
        select
            {{ sql_string(segment.name) }} as segment_name,
            {{ sql_string(segment.description) }} as description,
            {{ sql_string(segment.owner) }} as owner,  -- noqa: RF04
            {{ sql_string(segment.consent_purpose) }} as consent_purpose,
            {{ sql_string(segment.condition | trim) }} as condition_sql
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
    {%- if segments | length == 0 %}
        select
            null::varchar as segment_name,
            null::varchar as description,
            null::varchar as owner,  -- noqa: RF04
            null::varchar as consent_purpose,
            null::varchar as condition_sql
        where false
    {%- endif %}
)

select
    segment_name,
    nullif(description, '') as description,
    nullif(owner, '') as owner,  -- noqa: RF04
    consent_purpose,
    condition_sql,
    {{ run_date() }} as as_of_date
from definitions
