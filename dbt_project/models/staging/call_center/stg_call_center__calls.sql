-- One row per call, with durations derived from its timestamps.
with source as (
    select * from {{ source('call_center', 'call_center_calls') }}
),

renamed as (
    select
        cast(call_id as varchar) as call_id,
        nullif(trim(caller_phone), '') as caller_phone,
        nullif(lower(trim(caller_email)), '') as caller_email,
        nullif(trim(caller_first_name), '') as caller_first_name,
        nullif(trim(caller_last_name), '') as caller_last_name,
        nullif(trim(cast(agent_id as varchar)), '') as agent_id,
        coalesce(nullif(lower(trim(queue)), ''), 'unknown') as queue,
        cast(started_at as timestamp) as started_at,
        cast(answered_at as timestamp) as answered_at,
        cast(ended_at as timestamp) as ended_at,
        lower(trim(disposition)) as disposition,
        cast(csat as integer) as csat,
        cast(nps as integer) as nps,
        cast(updated_at as timestamp) as updated_at,
        _source_file as source_file,
        _source_line as source_line,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select
    *,
    answered_at is not null as is_answered,
    date_diff('second', started_at, answered_at) as wait_seconds,
    -- an unanswered call was handled by no one: the time before the caller hung up is waiting
    date_diff('second', answered_at, ended_at) as handle_seconds
from renamed
