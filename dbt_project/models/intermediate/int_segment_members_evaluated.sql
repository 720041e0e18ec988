-- One row per (customer_id, segment_name) whose condition holds on this run: every segment of
-- var('segments') compiled to a filter over the customer profiles. A NULL condition result
-- (e.g. average_csat <= 2 for a customer who never rated a call) means "not a member".
{%- set segments = segment_definitions() %}

-- materialized: every segment reads it, and the view ranks all customers by revenue
with profiles as materialized (
    select * from {{ ref('int_customer_profiles_ranked') }}
),

members as (
    {%- for segment in segments %}
        -- segment: {{ segment.name }}
        select
            customer_id,
            {{ sql_string(segment.name) }} as segment_name
        from profiles
        where ({{ segment.condition | trim }})
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
    {%- if segments | length == 0 %}
        select
            null::varchar as customer_id,
            null::varchar as segment_name
        where false
    {%- endif %}
)

select * from members
