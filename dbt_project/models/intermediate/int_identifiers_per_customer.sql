-- One row per customer with the emails, phones and source systems its person records carry.
with person_records as (
    select * from {{ ref('int_person_records_dated') }}
)

select
    customer_id,
    count(*) as source_record_count,
    list_sort(list_distinct(list(source_system))) as source_systems,
    coalesce(list_sort(list_distinct(list(email))), []) as emails,
    coalesce(list_sort(list_distinct(list(phone))), []) as phones,
    -- record dates after the run date (a backfill) do not count as "seen"
    min(record_dated_at) filter (
        where record_dated_at < {{ run_date_end() }}
    ) as first_record_updated_at,
    max(record_dated_at) filter (
        where record_dated_at < {{ run_date_end() }}
    ) as last_record_updated_at
from person_records
group by customer_id
