-- One row per call-center call, with its resolved customer.
with calls as (
    select * from {{ ref('stg_call_center__calls') }}
),

call_customers as (
    select
        source_record_id,
        customer_id
    from {{ ref('stg_identity__customer_records') }}
    where source_system = 'call_center'
)

select
    calls.call_id,
    call_customers.customer_id,
    calls.agent_id,
    calls.queue,
    calls.started_at,
    cast(calls.started_at as date) as call_date,
    calls.answered_at,
    calls.ended_at,
    calls.is_answered,
    calls.disposition,
    calls.wait_seconds,
    calls.handle_seconds,
    calls.csat,
    calls.nps,
    calls.updated_at
from calls
left join call_customers on calls.call_id = call_customers.source_record_id
