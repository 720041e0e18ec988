-- One row per customer with the emails, phones and source systems its person records carry.
with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

person_records as (
    select * from {{ ref('stg_identity__person_records') }}
),

csv_contacts as (
    select
        contact_id,
        list_dated_at
    from {{ ref('stg_csv__contacts') }}
),

joined as (
    select
        customer_records.customer_id,
        customer_records.source_system,
        person_records.email,
        person_records.phone,
        -- a CSV record's timestamp is its load time: date it by its list instead
        case
            when customer_records.source_system = 'csv' then csv_contacts.list_dated_at
            else person_records.record_updated_at
        end as record_updated_at
    from customer_records
    left join person_records
        on customer_records.source_record_key = person_records.source_record_key
    left join csv_contacts
        on
            customer_records.source_system = 'csv'
            and customer_records.source_record_id = csv_contacts.contact_id
)

select
    customer_id,
    count(*) as source_record_count,
    list_sort(list_distinct(list(source_system))) as source_systems,
    coalesce(list_sort(list_distinct(list(email))), []) as emails,
    coalesce(list_sort(list_distinct(list(phone))), []) as phones,
    -- record timestamps after the run date (a backfill) do not count as "seen"
    min(record_updated_at) filter (
        where record_updated_at < {{ run_date_end() }}
    ) as first_record_updated_at,
    max(record_updated_at) filter (
        where record_updated_at < {{ run_date_end() }}
    ) as last_record_updated_at
from joined
group by customer_id
