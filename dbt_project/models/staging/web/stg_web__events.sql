-- One row per web tracking message, with record keys for identity lookups and the
-- commerce / consent fields other models need pulled out of the JSON payloads.
with source as (
    select
        *,
        -- Segment's Order Completed amount: revenue (without shipping and tax) when sent, else
        -- total. A revenue that is sent but unreadable is a missing amount, never replaced by
        -- total (which includes shipping and tax).
        case
            when properties ->> 'revenue' is null then properties -> 'total'
            else properties -> 'revenue'
        end as order_amount
    from {{ source('web', 'web_events') }}
),

renamed as (
    select
        message_id as web_event_id,
        lower(type) as event_type,
        nullif(trim(event_name), '') as event_name,
        nullif(trim(page_name), '') as page_name,
        {{ web_id('user_id') }} as user_id,
        {{ web_id('anonymous_id') }} as anonymous_id,
        nullif(trim(group_id), '') as group_id,
        {{ web_id('previous_id') }} as previous_id,
        cast(event_at as timestamp) as event_at,
        cast(original_timestamp_at as timestamp) as original_timestamp_at,
        cast(sent_at as timestamp) as sent_at,
        cast(received_at as timestamp) as received_at,
        page_url,
        page_path,
        page_title,
        nullif(trim(page_referrer), '') as page_referrer,
        nullif(lower(trim(campaign_source)), '') as campaign_source,
        nullif(lower(trim(campaign_medium)), '') as campaign_medium,
        nullif(trim(campaign_name), '') as campaign_name,
        nullif(trim(campaign_term), '') as campaign_term,
        nullif(trim(campaign_content), '') as campaign_content,
        properties ->> 'order_id' as order_id,
        -- A JSON number (a JavaScript double): 4 decimal places keep every currency's minor unit
        -- and drop the binary noise of client arithmetic (29.970000000000002); NULL when it does
        -- not fit or is no plain number ('1_000', '1e3': macros/json_amount.sql)
        {{ json_amount('order_amount') }} as order_revenue,
        nullif(upper(trim(properties ->> 'currency')), '') as order_currency,
        {{ web_consent('traits', 'email_marketing') }} as has_consent_email_marketing,
        {{ web_consent('traits', 'ad_targeting') }} as has_consent_ad_targeting,
        traits,
        properties,
        context,
        _source_file as source_file,
        _source_line as source_line,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
)

select
    *,
    -- identity.customer_map keys web person records as user:<userId> and anon:<anonymousId>
    'user:' || user_id as user_record_id,
    'anon:' || anonymous_id as anonymous_record_id
from renamed
