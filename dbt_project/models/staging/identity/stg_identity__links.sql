-- One row per candidate link between two person records.
with source as (
    select * from {{ source('identity', 'links') }}
),

renamed as (
    select
        source_record_key_l || ' ~ ' || source_record_key_r || ' ~ ' || rule as link_id,
        source_record_key_l,
        source_record_key_r,
        link_type,
        rule as link_rule,
        match_weight,
        match_probability,
        comparison_levels,
        cast(is_accepted as boolean) as is_accepted,
        rejected_reason
    from source
)

select * from renamed
