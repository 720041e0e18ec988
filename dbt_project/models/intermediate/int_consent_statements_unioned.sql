-- One row per consent statement a source made about a customer and a purpose
-- (email_marketing, sms_marketing, ad_targeting), with when it was made.
with customer_records as (
    select * from {{ ref('stg_identity__customer_records') }}
),

csv_statements as (
    select
        'csv' as source_system,
        contact_id as source_record_id,
        -- the list's own date (file name, else the logical date of the run that loaded it),
        -- not the wall-clock load time: an old list loaded late must not override newer statements
        list_dated_at as stated_at,
        has_consent_email_marketing,
        has_consent_sms_marketing,
        has_consent_ad_targeting
    from {{ ref('stg_csv__contacts') }}
),

-- the store's single marketing opt-in covers email and SMS, not ad targeting
store_statements as (
    select
        'store' as source_system,
        store_customer_id as source_record_id,
        coalesce(updated_at, created_at) as stated_at,
        is_marketing_opt_in as has_consent_email_marketing,
        is_marketing_opt_in as has_consent_sms_marketing,
        null::boolean as has_consent_ad_targeting
    from {{ ref('stg_store__customers') }}
),

web_statements as (
    select
        'web' as source_system,
        user_record_id as source_record_id,
        event_at as stated_at,
        has_consent_email_marketing,
        null::boolean as has_consent_sms_marketing,
        has_consent_ad_targeting
    from {{ ref('stg_web__events') }}
    where event_type = 'identify' and user_id is not null
),

statements as (
    select * from csv_statements
    union all
    select * from store_statements
    union all
    select * from web_statements
),

-- attributed to customers before the unpivot below, which multiplies the rows to join
attributed as (
    select
        customer_records.customer_id,
        statements.*
    from statements
    inner join customer_records
        on
            statements.source_system = customer_records.source_system
            and statements.source_record_id = customer_records.source_record_id
),

-- one row per (record, purpose); a NULL means the source said nothing about that purpose
unpivoted as (
    select
        customer_id,
        'email_marketing' as consent_purpose,
        has_consent_email_marketing as is_granted,
        stated_at,
        source_system,
        source_record_id
    from attributed
    where has_consent_email_marketing is not null
    union all
    select
        customer_id,
        'sms_marketing' as consent_purpose,
        has_consent_sms_marketing as is_granted,
        stated_at,
        source_system,
        source_record_id
    from attributed
    where has_consent_sms_marketing is not null
    union all
    select
        customer_id,
        'ad_targeting' as consent_purpose,
        has_consent_ad_targeting as is_granted,
        stated_at,
        source_system,
        source_record_id
    from attributed
    where has_consent_ad_targeting is not null
)

select * from unpivoted
