"""CSV lists re-sent under a new name, edited: no person is stored twice, changed rows replace."""

from __future__ import annotations

from cdp.warehouse import connect
from ingestion.csv_lists import ingest_csv_lists

HEADER = "Email Address,First Name,ZIP Code\n"
FIRST = HEADER + "ann@example.com,Ann,111\nbob@example.com,Bob,222\ncat@example.com,Cat,333\n"
# Re-sent a week later: Ann unchanged, Bob corrected (and his address typed differently), Cat
# missing (a partial re-send is not a withdrawal), Dan new.
EDITED = HEADER + "ann@example.com,Ann,111\n Bob@Example.com,Robert,222\ndan@example.com,Dan,444\n"


def _rows(settings, sql, params=None):
    with connect(settings, read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _ingest(settings, run_id):
    with connect(settings) as con:
        return ingest_csv_lists(con, settings, run_id)


def _contacts(settings):
    return _rows(
        settings,
        "SELECT contact_id, lower(trim(email)), first_name, list_file FROM raw.csv_contacts ORDER BY contact_id",
    )


def _land(settings, name, text):
    settings.csv_landing_dir.mkdir(parents=True, exist_ok=True)
    (settings.csv_landing_dir / name).write_text(text)


def test_edited_list_resent_under_a_new_name_adds_new_people_updates_changed_ones_duplicates_none(settings):
    _land(settings, "newsletter__2026-11-01.csv", FIRST)
    _ingest(settings, "r1")
    _land(settings, "newsletter__2026-11-08.csv", EDITED)

    report = _ingest(settings, "r2")

    assert (report.rows_loaded, report.rows_skipped_duplicate) == (2, 1)
    assert _contacts(settings) == [
        ("newsletter__2026-11-01.csv:1", "ann@example.com", "Ann", "newsletter__2026-11-01.csv"),
        # Bob keeps his contact_id; his row is the later list's (dated by it downstream).
        ("newsletter__2026-11-01.csv:2", "bob@example.com", "Robert", "newsletter__2026-11-08.csv"),
        ("newsletter__2026-11-01.csv:3", "cat@example.com", "Cat", "newsletter__2026-11-01.csv"),
        ("newsletter__2026-11-08.csv:3", "dan@example.com", "Dan", "newsletter__2026-11-08.csv"),
    ]
    [(read, loaded, skipped, status)] = _rows(
        settings,
        "SELECT rows_read, rows_loaded, rows_skipped, status FROM meta.ingest_manifest "
        "WHERE source_object LIKE '%2026-11-08.csv'",
    )
    assert (read, loaded, skipped, status) == (3, 2, 1, "loaded")
    # Ann's row keeps the lineage of her first load.
    [(source_file,)] = _rows(settings, "SELECT _source_file FROM raw.csv_contacts WHERE first_name = 'Ann'")
    assert source_file.endswith("newsletter__2026-11-01.csv")

    rerun = _ingest(settings, "r3")

    assert (rerun.rows_loaded, rerun.files_skipped) == (0, 2)
    assert len(_contacts(settings)) == 4


def test_identical_rows_in_a_new_file_are_skipped_and_repeats_within_a_file_too(settings):
    _land(settings, "newsletter__a.csv", FIRST)
    _ingest(settings, "r1")
    # Same rows in another order, one twice: a different file, but nobody new.
    _land(settings, "newsletter__b.csv", HEADER + "cat@example.com,Cat,333\nann@example.com,Ann,111\ncat@example.com,Cat,333\n")

    report = _ingest(settings, "r2")

    assert (report.files_loaded, report.rows_loaded, report.rows_skipped_duplicate) == (1, 0, 3)
    assert [row[0] for row in _contacts(settings)] == ["newsletter__a.csv:1", "newsletter__a.csv:2", "newsletter__a.csv:3"]


def test_rows_match_only_within_their_list_type(settings):
    _land(settings, "newsletter__a.csv", FIRST)
    _land(settings, "event_leads__b.csv", "Email,Given Name\nann@example.com,Ann\n")

    report = _ingest(settings, "r1")

    assert report.rows_loaded == 4


def test_crm_contacts_sharing_a_company_line_without_email_are_different_people(settings):
    header = "Contact First Name;Contact Last Name;E-mail;Phone\n"
    _land(settings, "crm__a.csv", header + "Ann;Lee;;800-555-0100\n")
    _ingest(settings, "r1")
    _land(settings, "crm__b.csv", header + "Bob;Ray;;(800) 555 0100\nann;LEE;;8005550100\n")

    report = _ingest(settings, "r2")

    # Bob is new although he shares Ann's phone; Ann (same digits, same name) is updated.
    assert (report.rows_loaded, report.rows_skipped_duplicate) == (2, 0)
    assert _rows(settings, "SELECT contact_id, first_name FROM raw.csv_contacts ORDER BY contact_id") == [
        ("crm__a.csv:1", "ann"), ("crm__b.csv:1", "Bob"),
    ]


def test_file_changed_under_the_same_name_still_replaces_its_rows(settings):
    _land(settings, "newsletter__a.csv", FIRST)
    _land(settings, "newsletter__b.csv", EDITED)
    _ingest(settings, "r1")
    # a changes: Cat is dropped, Ann corrected. Bob's row is b's now, Dan only b's: both stay.
    _land(settings, "newsletter__a.csv", HEADER + "ann@example.com,Anne,111\nbob@example.com,Bob,222\n")

    report = _ingest(settings, "r2")

    assert report.files_loaded == 1
    [(status,)] = _rows(settings, "SELECT status FROM meta.ingest_manifest WHERE run_id = 'r2' AND rows_read > 0")
    assert status == "replaced_changed_file"
    # Ann and Bob as a's new version has them (the file loaded last wins), Cat gone with a's old version.
    assert _contacts(settings) == [
        ("newsletter__a.csv:1", "ann@example.com", "Anne", "newsletter__a.csv"),
        ("newsletter__a.csv:2", "bob@example.com", "Bob", "newsletter__a.csv"),
        ("newsletter__b.csv:3", "dan@example.com", "Dan", "newsletter__b.csv"),
    ]


def test_contact_a_changed_file_drops_is_restored_from_another_list_holding_it(settings):
    _land(settings, "newsletter__a.csv", FIRST)
    _ingest(settings, "r1")
    _land(settings, "newsletter__b.csv", HEADER + "cat@example.com,Cat,333\neve@example.com,Eve,555\n")
    assert _ingest(settings, "r2").rows_skipped_duplicate == 1  # Cat is a's
    _land(settings, "newsletter__a.csv", HEADER + "ann@example.com,Ann,111\n")  # a drops Bob and Cat

    report = _ingest(settings, "r3")

    assert report.rows_loaded == 1
    assert _contacts(settings) == [
        ("newsletter__a.csv:1", "ann@example.com", "Ann", "newsletter__a.csv"),
        ("newsletter__b.csv:1", "cat@example.com", "Cat", "newsletter__b.csv"),
        ("newsletter__b.csv:2", "eve@example.com", "Eve", "newsletter__b.csv"),
    ]
    [(message,)] = _rows(settings, "SELECT message FROM meta.ingest_manifest WHERE run_id = 'r3' AND status <> 'skipped_already_loaded'")
    assert message.endswith("1 contact(s) the earlier version held restored from newsletter__b.csv")
    [(batch_b,)] = _rows(settings, "SELECT batch_id FROM meta.ingest_manifest WHERE run_id = 'r2' AND status = 'loaded'")
    assert _rows(settings, "SELECT DISTINCT _batch_id FROM raw.csv_contacts WHERE list_file = 'newsletter__b.csv'") == [(batch_b,)]


def test_a_warehouse_of_the_previous_version_gets_fingerprints_and_keys(settings):
    _land(settings, "newsletter__a.csv", FIRST)
    _ingest(settings, "r1")
    with connect(settings) as con:  # raw.csv_contacts as the previous version created it
        con.execute("ALTER TABLE raw.csv_contacts DROP COLUMN row_fingerprint")
        con.execute("ALTER TABLE raw.csv_contacts DROP COLUMN contact_key")
    _land(settings, "newsletter__b.csv", EDITED)

    report = _ingest(settings, "r2")

    assert (report.rows_loaded, report.rows_skipped_duplicate) == (2, 1)
    assert len(_contacts(settings)) == 4
    assert _rows(settings, "SELECT count(*) FROM raw.csv_contacts WHERE row_fingerprint IS NULL OR contact_key IS NULL") == [(0,)]


def test_rows_whose_values_only_split_differently_are_different_rows(settings):
    _land(settings, "newsletter__a.csv", "Email Address,First Name,Last Name\nann@example.com,Ann|Lee,\nann@example.com,Ann,Lee\n")

    report = _ingest(settings, "r1")

    assert (report.rows_loaded, report.rows_skipped_duplicate) == (2, 0)


def test_a_row_id_kept_by_another_file_is_not_given_twice(settings):
    _land(settings, "newsletter__a.csv", HEADER + "ann@example.com,Ann,111\nbob@example.com,Bob,222\n")
    _ingest(settings, "r1")
    _land(settings, "newsletter__b.csv", HEADER + "bob@example.com,Robert,222\n")  # Bob's row keeps a:2
    _ingest(settings, "r2")
    _land(settings, "newsletter__a.csv", HEADER + "ann@example.com,Ann,111\ncat@example.com,Cat,333\n")

    _ingest(settings, "r3")

    [(batch_id,)] = _rows(settings, "SELECT batch_id FROM meta.ingest_manifest WHERE run_id = 'r3' AND rows_read > 0")
    assert _contacts(settings) == [
        ("newsletter__a.csv:1", "ann@example.com", "Ann", "newsletter__a.csv"),
        ("newsletter__a.csv:2", "bob@example.com", "Robert", "newsletter__b.csv"),
        (f"newsletter__a.csv:2#{batch_id}", "cat@example.com", "Cat", "newsletter__a.csv"),
    ]


def test_a_family_sharing_an_email_each_keeps_their_own_row_when_one_is_resent(settings):
    # Jo and Al share an address; the re-sent list holds only Al, who opted out.
    _land(settings, "newsletter__2026-11-01.csv", "Email Address,First Name,Opt-in\nfam@x.com,Jo,yes\nfam@x.com,Al,yes\n")
    _ingest(settings, "r1")
    _land(settings, "newsletter__2026-11-08.csv", "Email Address,First Name,Opt-in\nfam@x.com, al ,no\n")

    _ingest(settings, "r2")

    # Al's row is replaced under his own contact_id (by row order it took Jo's: Jo was lost and Al
    # stored twice, opted in and out); Jo is kept, as a partial re-send is not a withdrawal.
    assert _rows(settings, "SELECT contact_id, trim(first_name), consent_email, list_file FROM raw.csv_contacts "
                           "ORDER BY contact_id") == [
        ("newsletter__2026-11-01.csv:1", "Jo", True, "newsletter__2026-11-01.csv"),
        ("newsletter__2026-11-01.csv:2", "al", False, "newsletter__2026-11-08.csv"),
    ]


def test_rows_of_one_key_whose_names_changed_too_still_pair_in_row_order(settings):
    _land(settings, "newsletter__2026-11-01.csv", HEADER + "fam@x.com,Jo,111\nfam@x.com,Al,111\n")
    _ingest(settings, "r1")
    # Al is re-sent unchanged (skipped); Jo's row now says Joanna with a new ZIP: no name matches, so
    # it pairs with the first stored row of the key that the file does not repeat, Jo's.
    _land(settings, "newsletter__2026-11-08.csv", HEADER + "fam@x.com,Joanna,222\nfam@x.com,Al,111\n")

    _ingest(settings, "r2")

    assert _contacts(settings) == [
        ("newsletter__2026-11-01.csv:1", "fam@x.com", "Joanna", "newsletter__2026-11-08.csv"),
        ("newsletter__2026-11-01.csv:2", "fam@x.com", "Al", "newsletter__2026-11-01.csv"),
    ]
