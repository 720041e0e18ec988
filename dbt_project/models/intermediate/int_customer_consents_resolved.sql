-- One row per customer that made any consent statement: the latest statement per purpose wins;
-- when two sources state different things at the same moment the refusal wins.
-- No statement at all means no consent (opt-in, never assumed).
with statements as (
    select * from {{ ref('int_consent_statements_unioned') }}
),

latest as (
    select
        customer_id,
        consent_purpose,
        -- undated statements rank before every dated one
        arg_max(
            is_granted, (coalesce(stated_at, timestamp '1900-01-01'), not is_granted)
        ) as is_granted
    from statements
    -- statements made after the run date (a backfill) are not known yet on that date
    where stated_at is null or stated_at < {{ run_date_end() }}
    group by customer_id, consent_purpose
)

select
    customer_id,
    coalesce(bool_or(is_granted) filter (
        where consent_purpose = 'email_marketing'
    ), false) as has_consent_email_marketing,
    coalesce(bool_or(is_granted) filter (
        where consent_purpose = 'sms_marketing'
    ), false) as has_consent_sms_marketing,
    coalesce(bool_or(is_granted) filter (
        where consent_purpose = 'ad_targeting'
    ), false) as has_consent_ad_targeting
from latest
group by customer_id
