-- One row per contact row of a marketing / CRM CSV list.
-- A list's statements (consent, company) are dated by the list, never by the wall-clock load time:
-- the date in its file name (newsletter__2026-11-23.csv), else the logical run date of the
-- pipeline run that loaded it (meta.ingest_manifest -> meta.pipeline_runs), else the load day.
-- A row that carries its own date (row_dated_at: a newsletter sign-up, a CRM contact's last edit,
-- an event registration) is dated by it instead (contact_dated_at): a 2023 sign-up re-exported in
-- a 2026 list was made in 2023. A row date after the list's day cannot be true: it is read as the
-- end of that day.
{%- set manifest = load_relation(source('meta', 'ingest_manifest')) %}
{%- set pipeline_runs = load_relation(source('meta', 'pipeline_runs')) %}

with source as (
    select * from {{ source('csv', 'csv_contacts') }}
),

batch_run_dates as (
    {%- if manifest is not none and pipeline_runs is not none %}
        select
            manifest.batch_id,
            min(runs.run_date) as run_date
        from {{ manifest }} as manifest
        inner join {{ pipeline_runs }} as runs on manifest.run_id = runs.run_id
        group by manifest.batch_id
    {%- else %}
        select
            cast(null as varchar) as batch_id,
            cast(null as date) as run_date
        where false
    {%- endif %}
),

renamed as (
    select
        contact_id,
        lower(trim(list_type)) as list_type,
        list_file,
        row_number as list_row_number,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(first_name), '') as first_name,
        nullif(trim(last_name), '') as last_name,
        try_cast(birth_date as date) as birth_date,
        nullif(trim(street), '') as street,
        nullif(trim(city), '') as city,
        nullif(trim(postcode), '') as postcode,
        nullif(trim(state), '') as state,
        nullif(trim(country), '') as country,
        -- "N/A", "unknown", "-": no company, so not B2B (a newer list's N/A must not replace one)
        {{ null_if_placeholder("nullif(trim(company_name), '')") }} as company_name,
        cast(consent_email as boolean) as has_consent_email_marketing,
        cast(consent_sms as boolean) as has_consent_sms_marketing,
        cast(consent_ads as boolean) as has_consent_ad_targeting,
        nullif(trim(source_campaign), '') as source_campaign,
        extra,
        cast(row_dated_at as timestamp) as row_dated_at,
        _source_file as source_file,
        _source_line as source_line,
        _batch_id as batch_id,
        _loaded_at as loaded_at
    from source
),

with_file_date as (
    select
        *,
        try_cast(regexp_extract(list_file, '(\d{4}-\d{2}-\d{2})', 1) as date) as list_file_date
    from renamed
),

with_list_date as (
    select
        with_file_date.*,
        cast(coalesce(
            with_file_date.list_file_date,
            batch_run_dates.run_date,
            cast(with_file_date.loaded_at as date)
        ) as timestamp) as list_dated_at
    from with_file_date
    left join batch_run_dates on with_file_date.batch_id = batch_run_dates.batch_id
)

select
    *,
    -- never after the list's own day: a junk future date (2099) would otherwise be the newest
    -- consent statement forever
    least(
        coalesce(row_dated_at, list_dated_at),
        list_dated_at + interval 1 day - interval 1 microsecond
    ) as contact_dated_at
from with_list_date
