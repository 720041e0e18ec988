-- One row per (customer_id, segment_name) for the customers currently in each segment.
-- `member_since` is the first run date of the customer's current, unbroken membership: the
-- model reads its own previous version (it is a table, rebuilt beside the old one and swapped
-- in), so reruns keep the date, leavers drop out and a rejoin starts a new membership.
-- A full refresh (or a customer_id change from identity resolution) restarts the dates.
{%- set previous_relation = load_relation(this) %}

with current_members as (
    select * from {{ ref('int_segment_members_evaluated') }}
),

previous_members as (
    {%- if previous_relation is not none %}
        select
            customer_id,
            segment_name,
            member_since
        from {{ previous_relation }}
    {%- else %}
        select
            null::varchar as customer_id,
            null::varchar as segment_name,
            null::date as member_since
        where false
    {%- endif %}
)

select
    current_members.customer_id,
    current_members.segment_name,
    -- least() keeps the earlier date when an older run date is replayed after a newer one
    coalesce(
        least(previous_members.member_since, {{ run_date() }}), {{ run_date() }}
    ) as member_since,
    {{ run_date() }} as as_of_date
from current_members
left join previous_members
    on
        current_members.customer_id = previous_members.customer_id
        and current_members.segment_name = previous_members.segment_name
