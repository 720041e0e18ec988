-- One row per source system plus an 'all' row: how identity resolution grouped person records
-- into customers on this run (records, customers, multi-source customers, links).
-- Per-customer counts come from int_identifiers_per_customer (incremental, one row per customer
-- with its record count and source systems, over the same person records as
-- bridge_customer_records), so the only full pass over the records is a count per system: no
-- join of records to customers and no count(distinct) over millions of records.
with customers as (
    select
        customer_id,
        source_record_count as records,
        source_systems
    from {{ ref('int_identifiers_per_customer') }}
),

records_per_system as (
    select
        source_system,
        count(*) as person_records
    from {{ ref('bridge_customer_records') }}
    group by source_system
),

-- one row per (customer, source system it has records in)
customer_systems as (
    select
        unnest(source_systems) as source_system,
        len(source_systems) > 1 as is_in_several_sources
    from customers
),

customers_per_system as (
    select
        source_system,
        count(*) as customers,
        count(*) filter (where is_in_several_sources) as customers_in_several_sources
    from customer_systems
    group by source_system
),

per_system as (
    select
        records_per_system.source_system,
        records_per_system.person_records,
        customers_per_system.customers,
        customers_per_system.customers_in_several_sources
    from records_per_system
    inner join customers_per_system
        on records_per_system.source_system = customers_per_system.source_system
),

links as (
    select * from {{ ref('stg_identity__links') }}
),

overall as (
    select
        'all' as source_system,
        sum(records) as person_records,
        count(*) as customers,
        count(*) filter (where len(source_systems) > 1) as customers_in_several_sources,
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
