-- One row per resolved customer_id (identity.customer_map): the customer 360.
-- A view, not a table: as_of_date, days_since_* and revenue_percentile move for every customer
-- every night, so a table would be rewritten whole each night. The stored, incremental part is
-- int_customer_profiles_joined; this view adds the nightly columns (int_customer_profiles_ranked)
-- and the segment list. A reader pays only for the columns it selects: the revenue rank and the
-- segment list are computed when read, everything else is a projection of the table underneath.
{{ config(materialized='view') }}

with profiles as (
    select * from {{ ref('int_customer_profiles_ranked') }}
),

segments_per_customer as (
    select
        customer_id,
        list_sort(list(segment_name)) as segments
    from {{ ref('segment_memberships') }}
    group by customer_id
)

select
    profiles.*,
    coalesce(segments_per_customer.segments, []) as segments
from profiles
left join segments_per_customer on profiles.customer_id = segments_per_customer.customer_id
