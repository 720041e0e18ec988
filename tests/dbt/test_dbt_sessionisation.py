"""Web sessionisation: 30 minutes of inactivity ends a session."""

from __future__ import annotations

from datetime import datetime


def test_thirty_minute_inactivity_splits_sessions(built, sql):
    settings, _ = built
    sessions = sql(
        settings,
        "SELECT session_number, session_started_at, events, channel, customer_id "
        "FROM marts.fct_web_sessions WHERE visitor_id = 'a3' ORDER BY session_number",
    )
    # gaps of 29 and exactly 30 minutes stay in one session; 36 minutes and overnight split
    assert [(s[0], s[1], s[2]) for s in sessions] == [
        (1, datetime(2026, 11, 2, 10, 0), 3),
        (2, datetime(2026, 11, 2, 11, 35), 2),
        (3, datetime(2026, 11, 3, 9, 0), 1),
    ]
    assert [s[3] for s in sessions] == ["paid_search", "referral", "direct"]
    assert {s[4] for s in sessions} == {"C3"}


def test_identify_mid_session_attributes_the_whole_session(built, sql):
    settings, _ = built
    rows = sql(
        settings,
        "SELECT web_event_id, customer_id, session_id FROM marts.fct_web_events "
        "WHERE anonymous_id = 'a1' ORDER BY event_at",
    )
    assert [r[1] for r in rows] == ["C1"] * 5
    assert len({r[2] for r in rows}) == 1
    session = sql(
        settings,
        "SELECT events, orders_completed, has_converted FROM marts.fct_web_sessions WHERE visitor_id = 'a1'",
    )
    assert session == [(5, 1, True)]


def test_unresolved_visitor_still_gets_a_session(built, sql):
    settings, _ = built
    assert sql(settings, "SELECT customer_id FROM marts.fct_web_sessions WHERE visitor_id = 'a9'") == [
        (None,)
    ]
