-- One row per customer who called: call counts, last call, average CSAT and latest NPS.
with calls as (
    select
        calls.*,
        customer_records.customer_id
    from {{ ref('stg_call_center__calls') }} as calls
    inner join {{ ref('stg_identity__customer_records') }} as customer_records
        on
            customer_records.source_system = 'call_center'
            and calls.call_id = customer_records.source_record_id
    where calls.started_at < {{ run_date_end() }}
)

select
    customer_id,
    count(*) as calls,
    min(started_at) as first_call_at,
    max(started_at) as last_call_at,
    round(avg(csat), 2) as average_csat,
    arg_max(nps, (started_at, call_id)) filter (where nps is not null) as latest_nps
from calls
group by customer_id
