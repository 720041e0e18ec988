-- One row per distinct customer-id merge recorded by identity resolution: the old id was absorbed
-- into the new one. Empty until the first identity run has written identity.customer_id_history.
{%- set id_history = load_relation(source('identity', 'customer_id_history')) %}

{%- if id_history is not none %}
    select distinct
        old_customer_id,
        new_customer_id
    from {{ id_history }}
    where
        change_type = 'merge'
        and old_customer_id is not null
        and new_customer_id is not null
        and old_customer_id != new_customer_id
{%- else %}
    select
        cast(null as varchar) as old_customer_id,
        cast(null as varchar) as new_customer_id
    where false
{%- endif %}
