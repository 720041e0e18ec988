-- Every customer_id of identity.customer_map has exactly its row in dim_customers (no customer
-- lost between identity resolution and the marts). Returns the missing ids.
select distinct customer_records.customer_id
from {{ ref('stg_identity__customer_records') }} as customer_records
left join {{ ref('dim_customers') }} as customers
    on customer_records.customer_id = customers.customer_id
where customers.customer_id is null
