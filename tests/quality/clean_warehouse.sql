-- A tiny warehouse that passes every gate: contract columns (docs/contracts.md §2-4), run 'run-2'
-- on 2026-11-23 with one earlier run 'run-1' as volume history.
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS meta;
CREATE SCHEMA IF NOT EXISTS identity;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS exports;

CREATE TABLE meta.ingest_manifest (
    batch_id VARCHAR, run_id VARCHAR, source VARCHAR, source_object VARCHAR, file_size BIGINT,
    file_sha256 VARCHAR, watermark_from VARCHAR, watermark_to VARCHAR, rows_read BIGINT,
    rows_loaded BIGINT, rows_quarantined BIGINT, rows_skipped BIGINT, status VARCHAR,
    started_at TIMESTAMP, finished_at TIMESTAMP, message VARCHAR);
INSERT INTO meta.ingest_manifest VALUES
    ('b1-web', 'run-1', 'web', 'web/events-2026-11-22-001.ndjson', 1, 'x', NULL, NULL, 100, 99, 1, 0, 'loaded', '2026-11-22 02:00:00', '2026-11-22 02:01:00', NULL),
    ('b1-calls', 'run-1', 'call_center', 'call_center/calls-2026-11-22.csv', 1, 'x', NULL, NULL, 50, 50, 0, 0, 'loaded', '2026-11-22 02:00:00', '2026-11-22 02:01:00', NULL),
    ('b1-store', 'run-1', 'store', 'customers', NULL, NULL, NULL, '2026-11-22', 40, 40, 0, 0, 'loaded', '2026-11-22 02:00:00', '2026-11-22 02:01:00', NULL),
    ('b2-web', 'run-2', 'web', 'web/events-2026-11-23-001.ndjson', 1, 'y', NULL, NULL, 110, 108, 2, 0, 'loaded', '2026-11-23 02:00:00', '2026-11-23 02:01:00', NULL),
    ('b2-calls', 'run-2', 'call_center', 'call_center/calls-2026-11-23.csv', 1, 'y', NULL, NULL, 45, 45, 0, 0, 'loaded', '2026-11-23 02:00:00', '2026-11-23 02:01:00', NULL),
    ('b2-store', 'run-2', 'store', 'customers', NULL, NULL, '2026-11-22', '2026-11-23', 42, 42, 0, 0, 'loaded', '2026-11-23 02:00:00', '2026-11-23 02:01:00', NULL),
    ('b2-csv', 'run-2', 'csv', 'csv/newsletter__2026-11-23.csv', 1, 'y', NULL, NULL, 20, 20, 0, 0, 'loaded', '2026-11-23 02:00:00', '2026-11-23 02:01:00', NULL);

CREATE TABLE meta.quarantine (
    batch_id VARCHAR, run_id VARCHAR, source VARCHAR, source_file VARCHAR, line_number BIGINT,
    field VARCHAR, reason VARCHAR, raw_text VARCHAR, quarantined_at TIMESTAMP);
INSERT INTO meta.quarantine VALUES
    ('b2-web', 'run-2', 'web', 'web/events-2026-11-23-001.ndjson', 7, NULL, 'invalid JSON', '{"type":', '2026-11-23 02:00:30'),
    ('b2-web', 'run-2', 'web', 'web/events-2026-11-23-001.ndjson', 9, 'messageId', 'missing messageId', '{}', '2026-11-23 02:00:30');

CREATE TABLE raw.web_events (
    message_id VARCHAR, type VARCHAR, event_name VARCHAR, page_name VARCHAR, user_id VARCHAR,
    anonymous_id VARCHAR, group_id VARCHAR, previous_id VARCHAR, event_at TIMESTAMP,
    original_timestamp_at TIMESTAMP, sent_at TIMESTAMP, received_at TIMESTAMP, traits JSON,
    properties JSON, context JSON, page_url VARCHAR, page_path VARCHAR, page_title VARCHAR,
    page_referrer VARCHAR, campaign_source VARCHAR, campaign_medium VARCHAR, campaign_name VARCHAR,
    campaign_term VARCHAR, campaign_content VARCHAR, payload JSON,
    _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.web_events (message_id, type, user_id, anonymous_id, event_at, _source_file, _source_line, _batch_id, _loaded_at) VALUES
    ('m-1', 'identify', 'u-1', 'a-1', '2026-11-22 10:00:00', 'web/events-2026-11-22-001.ndjson', 1, 'b1-web', '2026-11-22 02:00:10'),
    ('m-2', 'track', 'u-1', 'a-1', '2026-11-23 09:00:00', 'web/events-2026-11-23-001.ndjson', 1, 'b2-web', '2026-11-23 02:00:10'),
    ('m-3', 'page', NULL, 'a-2', '2026-11-23 09:30:00', 'web/events-2026-11-23-001.ndjson', 2, 'b2-web', '2026-11-23 02:00:10'),
    ('m-4', 'identify', 'u-2', 'a-3', '2026-11-23 11:00:00', 'web/events-2026-11-23-001.ndjson', 3, 'b2-web', '2026-11-23 02:00:10');

CREATE TABLE raw.call_center_calls (
    call_id VARCHAR, caller_phone VARCHAR, caller_email VARCHAR, caller_first_name VARCHAR,
    caller_last_name VARCHAR, agent_id VARCHAR, queue VARCHAR, started_at TIMESTAMP,
    answered_at TIMESTAMP, ended_at TIMESTAMP, disposition VARCHAR, csat INTEGER, nps INTEGER,
    updated_at TIMESTAMP, _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.call_center_calls (call_id, caller_phone, started_at, disposition, _batch_id) VALUES
    ('c-1', '+15551230001', '2026-11-23 08:00:00', 'resolved', 'b2-calls'),
    ('c-2', '+15551230002', '2026-11-23 08:30:00', 'abandoned', 'b2-calls');

CREATE TABLE raw.store_customers (
    customer_id INTEGER, loyalty_card_number VARCHAR, first_name VARCHAR, last_name VARCHAR,
    email VARCHAR, phone VARCHAR, birth_date DATE, street VARCHAR, city VARCHAR, postcode VARCHAR,
    state VARCHAR, country VARCHAR, is_marketing_opt_in BOOLEAN, created_at TIMESTAMP,
    updated_at TIMESTAMP, _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.store_customers (customer_id, first_name, email, _batch_id) VALUES
    (501, 'Ann', 'ann@example.com', 'b2-store'), (502, 'Bob', 'bob@example.com', 'b2-store');

CREATE TABLE raw.store_orders (
    order_id INTEGER, customer_id INTEGER, store_id INTEGER, ordered_at TIMESTAMP, status VARCHAR,
    total_amount DECIMAL(12, 2), currency VARCHAR, updated_at TIMESTAMP,
    _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.store_orders (order_id, customer_id, ordered_at, status, total_amount, _batch_id) VALUES
    (9001, 501, '2026-11-20 12:00:00', 'completed', 40.00, 'b2-store');

CREATE TABLE raw.csv_contacts (
    list_type VARCHAR, list_file VARCHAR, row_number BIGINT, contact_id VARCHAR, email VARCHAR,
    phone VARCHAR, first_name VARCHAR, last_name VARCHAR, birth_date DATE, street VARCHAR,
    city VARCHAR, postcode VARCHAR, state VARCHAR, country VARCHAR, company_name VARCHAR,
    consent_email BOOLEAN, consent_sms BOOLEAN, consent_ads BOOLEAN, source_campaign VARCHAR,
    extra JSON, _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.csv_contacts (list_type, list_file, row_number, contact_id, email, _batch_id) VALUES
    ('newsletter', 'newsletter__2026-11-23.csv', 2, 'newsletter__2026-11-23.csv:2', 'cy@example.com', 'b2-csv');

CREATE TABLE raw.suppression_list (
    identifier_type VARCHAR, identifier VARCHAR, reason VARCHAR, requested_at TIMESTAMP,
    _source_file VARCHAR, _source_line BIGINT, _batch_id VARCHAR, _loaded_at TIMESTAMP);
INSERT INTO raw.suppression_list (identifier_type, identifier, reason, requested_at) VALUES
    ('email', 'Erased@Example.com', 'erasure', '2026-11-01 00:00:00'),
    ('customer_id', '777', 'opt_out', '2026-11-02 00:00:00');

CREATE TABLE identity.person_records (
    source_system VARCHAR, source_record_id VARCHAR, first_name VARCHAR, last_name VARCHAR,
    date_of_birth DATE, email VARCHAR, phone VARCHAR, street VARCHAR, city VARCHAR, postcode VARCHAR,
    state VARCHAR, country VARCHAR, web_user_id VARCHAR, web_anonymous_id VARCHAR,
    loyalty_card_number VARCHAR, record_updated_at TIMESTAMP);
INSERT INTO identity.person_records (source_system, source_record_id, first_name, email, web_user_id) VALUES
    ('web', 'user:u-1', 'Ann', 'ann@example.com', 'u-1'),
    ('web', 'user:u-2', 'Dan', 'dan@example.com', 'u-2'),
    ('store', '501', 'Ann', 'ann@example.com', NULL),
    ('store', '502', 'Bob', 'bob@example.com', NULL),
    ('store', '777', 'Eve', 'erased@example.com', NULL),
    ('csv', 'newsletter__2026-11-23.csv:2', 'Cy', 'cy@example.com', NULL);

CREATE TABLE identity.customer_map (
    source_system VARCHAR, source_record_id VARCHAR, customer_id VARCHAR, resolved_at TIMESTAMP);
INSERT INTO identity.customer_map VALUES
    ('web', 'user:u-1', 'cust-a', '2026-11-23 03:00:00'),
    ('store', '501', 'cust-a', '2026-11-23 03:00:00'),
    ('store', '502', 'cust-b', '2026-11-23 03:00:00'),
    ('csv', 'newsletter__2026-11-23.csv:2', 'cust-c', '2026-11-23 03:00:00'),
    ('web', 'user:u-2', 'cust-d', '2026-11-23 03:00:00'),
    ('store', '777', 'cust-e', '2026-11-23 03:00:00');

CREATE TABLE identity.run_metrics (
    run_id VARCHAR, run_date DATE, person_records BIGINT, customers BIGINT, largest_cluster BIGINT,
    clusters_size_1 BIGINT, clusters_size_2_5 BIGINT, clusters_size_6_plus BIGINT,
    share_multi_first_name DOUBLE, share_multi_postcode DOUBLE, deterministic_links BIGINT,
    probabilistic_links BIGINT, rejected_links BIGINT, computed_at TIMESTAMP);
INSERT INTO identity.run_metrics VALUES
    ('run-2', '2026-11-23', 6, 5, 2, 4, 1, 0, 0.0, 0.0, 1, 0, 0, '2026-11-23 03:00:00');

CREATE TABLE marts.dim_customers (
    customer_id VARCHAR, first_name VARCHAR, last_name VARCHAR, email VARCHAR, phone VARCHAR,
    street VARCHAR, city VARCHAR, postcode VARCHAR, state VARCHAR, country VARCHAR,
    date_of_birth DATE, company_name VARCHAR, is_b2b BOOLEAN, emails VARCHAR[], phones VARCHAR[],
    first_seen_at TIMESTAMP, last_seen_at TIMESTAMP, has_consent_email_marketing BOOLEAN,
    has_consent_sms_marketing BOOLEAN, has_consent_ad_targeting BOOLEAN, lifetime_orders BIGINT,
    lifetime_revenue DECIMAL(12, 2), average_order_value DECIMAL(12, 2), last_purchase_at TIMESTAMP,
    web_sessions BIGINT, page_views BIGINT, last_visit_at TIMESTAMP, acquisition_channel VARCHAR,
    calls BIGINT, last_call_at TIMESTAMP, average_csat DOUBLE, latest_nps INTEGER, segments VARCHAR[]);
INSERT INTO marts.dim_customers (customer_id, first_name, email, phone, emails, phones, first_seen_at, last_seen_at,
    has_consent_email_marketing, has_consent_sms_marketing, has_consent_ad_targeting, lifetime_orders,
    lifetime_revenue, average_order_value, average_csat, latest_nps, segments) VALUES
    ('cust-a', 'Ann', 'ann@example.com', '+15551230001', ['ann@example.com'], ['+15551230001'], '2026-01-01', '2026-11-23 09:00:00', TRUE, TRUE, TRUE, 1, 40.00, 40.00, 4.5, 9, ['high_value']),
    ('cust-b', 'Bob', 'bob@example.com', NULL, ['bob@example.com'], [], '2026-02-01', '2026-11-20', TRUE, FALSE, FALSE, 0, 0, NULL, NULL, NULL, ['high_value']),
    ('cust-c', 'Cy', 'cy@example.com', NULL, ['cy@example.com'], [], '2026-11-23', '2026-11-23', FALSE, FALSE, TRUE, 0, 0, NULL, NULL, NULL, ['browsers']),
    ('cust-d', 'Dan', 'dan@example.com', NULL, ['dan@example.com'], [], '2026-11-23', '2026-11-23', FALSE, FALSE, FALSE, 0, 0, NULL, NULL, NULL, []),
    ('cust-e', 'Eve', 'erased@example.com', NULL, ['erased@example.com'], [], '2026-03-01', '2026-10-01', TRUE, TRUE, TRUE, 0, 0, NULL, NULL, NULL, []);

CREATE TABLE marts.segments (segment_name VARCHAR, description VARCHAR, owner VARCHAR, consent_purpose VARCHAR);
INSERT INTO marts.segments VALUES
    ('high_value', 'Top buyers', 'crm-team', 'email_marketing'),
    ('browsers', 'Frequent visitors', 'growth-team', 'ad_targeting');

CREATE TABLE marts.segment_memberships (customer_id VARCHAR, segment_name VARCHAR, member_since DATE);
INSERT INTO marts.segment_memberships VALUES
    ('cust-a', 'high_value', '2026-11-01'), ('cust-b', 'high_value', '2026-11-01'),
    ('cust-c', 'browsers', '2026-11-23');

CREATE TABLE marts.segment_size_history (
    as_of_date DATE, segment_name VARCHAR, members BIGINT, members_joined BIGINT, run_id VARCHAR);
INSERT INTO marts.segment_size_history VALUES
    ('2026-11-22', 'high_value', 2, 0, 'run-1'), ('2026-11-22', 'browsers', 1, 1, 'run-1'),
    ('2026-11-23', 'high_value', 2, 0, 'run-2'), ('2026-11-23', 'browsers', 1, 1, 'run-2');

CREATE TABLE exports.export_log (
    run_id VARCHAR, segment VARCHAR, destination VARCHAR, row_count BIGINT, status VARCHAR);
INSERT INTO exports.export_log VALUES ('run-2', 'high_value', 'esp_csv', 2, 'published');
