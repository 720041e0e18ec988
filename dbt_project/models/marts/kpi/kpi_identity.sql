-- One row per source system plus an 'all' row: how identity resolution grouped person records
-- into customers on this run (records, customers, multi-source customers, links).
with records as (
    select * from {{ ref('bridge_customer_records') }}
),

customers as (
    select
        customer_id,
        count(*) as records,
        count(distinct source_system) as source_systems
    from records
    group by customer_id
),

links as (
    select * from {{ ref('stg_identity__links') }}
),

per_system as (
    select
        records.source_system,
        count(*) as person_records,
        count(distinct records.customer_id) as customers,
        count(distinct records.customer_id) filter (where customers.source_systems > 1)
            as customers_in_several_sources
    from records
    inner join customers on records.customer_id = customers.customer_id
    group by records.source_system
),

overall as (
    select
        'all' as source_system,
        sum(records) as person_records,
        count(*) as customers,
        count(*) filter (where source_systems > 1) as customers_in_several_sources,
        max(records) as largest_customer_records,
        round(avg(records), 3) as average_records_per_customer
    from customers
),

link_counts as (
    select
        count(*) filter (where is_accepted and link_type = 'deterministic') as deterministic_links,
        count(*) filter (where is_accepted and link_type = 'probabilistic') as probabilistic_links,
        count(*) filter (where not is_accepted) as rejected_links
    from links
)

select
    overall.source_system,
    cast(overall.person_records as bigint) as person_records,
    overall.customers,
    overall.customers_in_several_sources,
    overall.largest_customer_records,
    overall.average_records_per_customer,
    link_counts.deterministic_links,
    link_counts.probabilistic_links,
    link_counts.rejected_links,
    {{ run_date() }} as as_of_date
from overall
cross join link_counts
union all
select
    source_system,
    person_records,
    customers,
    customers_in_several_sources,
    null as largest_customer_records,
    null as average_records_per_customer,
    null as deterministic_links,
    null as probabilistic_links,
    null as rejected_links,
    {{ run_date() }} as as_of_date
from per_system
