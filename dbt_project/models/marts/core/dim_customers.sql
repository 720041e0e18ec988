-- One row per resolved customer_id (identity.customer_map): the customer 360.
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
