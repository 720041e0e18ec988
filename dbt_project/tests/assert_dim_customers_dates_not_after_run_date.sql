-- dim_customers makes no claim past the run's logical date: no visit after the end of the run date
-- (int_web_sessions_aggregated_to_customers cuts sessions there), and a golden birth date between
-- 1900-01-01 and the run date (int_customer_golden_record drops the others before survivorship).
-- Returns the customers that break either.
select
    customer_id,
    last_visit_at,
    date_of_birth,
    as_of_date
from {{ ref('dim_customers') }}
where
    last_visit_at >= {{ run_date_end() }}
    or date_of_birth > as_of_date
    or date_of_birth < date '1900-01-01'
