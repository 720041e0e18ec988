"""A consent refusal sent before login (an identify with an anonymousId and no userId) counts for
the customer its anonymous record (anon:<anonymousId>) resolves to: on a full build and on an
incremental night that only loads that identify, which must equal a --full-refresh of the same data."""

from __future__ import annotations

from datetime import date

import pytest

from cdp import dbt as cdp_dbt

CONSENT_TABLES = (
    "intermediate.int_consent_statements_unioned",
    "intermediate.int_customer_consents_resolved",
    "marts.dim_customers",
    "marts.segment_memberships",
)
ALICE_CONSENTS = ("select has_consent_email_marketing, has_consent_ad_targeting "
                  "from marts.dim_customers where customer_id = 'C1'")
# Alice (C1), on her known device a1 but not logged in, refuses e-mail and ads on 2026-11-10,
# after the CSV list of 2026-11-01 that opted her in to ads.
ANONYMOUS_REFUSAL = """
    insert into raw.web_events
        (message_id, type, user_id, anonymous_id, event_at, traits, _source_file, _source_line,
         _batch_id, _loaded_at)
    values ('m-a6', 'identify', null, 'a1', '2026-11-10 09:00:00',
            '{"consent": {"email_marketing": false, "ad_targeting": false}}',
            'web/g.ndjson', 1, 'b9', '2026-11-24 01:00:00')"""


@pytest.mark.slow
def test_anonymous_refusal_counts_on_incremental_and_full_builds(warehouse_factory, sql, tmp_path, nights):
    settings = warehouse_factory(tmp_path / "warehouse")
    cdp_dbt.build(settings, run_id="night-1")
    # night 1: the CSV opt-in to ads (2026-11-01) is her latest ad statement
    assert sql(settings, ALICE_CONSENTS) == [(False, True)]

    night_2 = settings.with_run_date(date(2026, 11, 24))
    nights.execute(night_2, ANONYMOUS_REFUSAL)
    cdp_dbt.build(night_2, run_id="night-2")

    assert sql(night_2, ALICE_CONSENTS) == [(False, False)]
    assert sql(night_2, "select consent_purpose, is_granted, customer_id "
                        "from intermediate.int_consent_statements_unioned "
                        "where source_record_key = 'web|anon:a1' order by 1") == [
        ("ad_targeting", False, "C1"), ("email_marketing", False, "C1")
    ]
    full = nights.full_refresh_copy(night_2, "night-2", tmp_path / "full_refresh_night_2")
    assert sql(full, ALICE_CONSENTS) == [(False, False)]
    assert nights.differences(night_2, str(full.warehouse_path), CONSENT_TABLES) == {}
