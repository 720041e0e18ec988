{{
    config(
        materialized='incremental',
        unique_key='as_of_date',
        incremental_strategy='delete+insert',
        post_hook="{{ delete_row_markers('segment_name') }}",
    )
}}
-- One row per (as_of_date, segment_name): how many customers the segment held on each run date.
-- Incremental: a rerun for the same run date replaces all of that date's rows (delete+insert on
-- as_of_date alone, not on the pair), so a segment removed or renamed since leaves no stale row;
-- earlier dates stay. A marker row (date only, removed by the post-hook) makes the delete happen
-- when no segment is defined any more.
with segments as (
    select * from {{ ref('segments') }}
),

memberships as (
    select * from {{ ref('segment_memberships') }}
)

select
    segments.as_of_date,
    segments.segment_name,
    count(memberships.customer_id) as members,
    count(memberships.customer_id) filter (
        where memberships.member_since = segments.as_of_date
    ) as members_joined,
    -- quoted as a SQL string literal: a run id is free text (an Airflow run id holds ':' and '+',
    -- and nothing stops a quote)
    {{ sql_string(run_id()) }} as run_id
from segments
left join memberships on segments.segment_name = memberships.segment_name
group by segments.as_of_date, segments.segment_name
{%- if is_incremental() %}
    union all by name
    select {{ run_date() }} as as_of_date
{%- endif %}
