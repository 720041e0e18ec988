"""Store POS: incremental by updated_at watermark with overlap, upsert by key, SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import closing
from datetime import date, datetime
from decimal import Decimal

import pytest

from cdp.settings import Settings
from cdp.warehouse import connect
from ingestion.runner import ingest

POS_DDL = [
    """CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, loyalty_card_number TEXT, first_name TEXT,
       last_name TEXT, email TEXT, phone TEXT, birth_date TEXT, street TEXT, city TEXT, postcode TEXT,
       state TEXT, country TEXT, is_marketing_opt_in INTEGER, created_at TEXT, updated_at TEXT)""",
    """CREATE TABLE stores (store_id INTEGER PRIMARY KEY, store_name TEXT, city TEXT, state TEXT,
       opened_at TEXT, updated_at TEXT)""",
    """CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER NULL, store_id INTEGER,
       ordered_at TEXT, status TEXT, total_amount NUMERIC, currency TEXT, updated_at TEXT)""",
    """CREATE TABLE order_lines (order_line_id INTEGER PRIMARY KEY, order_id INTEGER, product_sku TEXT,
       product_name TEXT, category TEXT, quantity INTEGER, unit_price NUMERIC, updated_at TEXT)""",
]
CUSTOMER = "INSERT INTO customers VALUES ({})".format(", ".join(["{p}"] * 15))
SEED = [
    ("customers", (1, "L-1", "Ann", "Lee", "ann@example.com", "555-0001", "1980-02-01", "1 Main St", "Springfield",
                   "12345", "IL", "US", 1, "2026-01-01 10:00:00", "2026-11-20 10:00:00")),
    ("customers", (2, None, "Bob", "Stone", None, "555-0002", None, None, None, None, None, "US", 0,
                   "2026-01-02 10:00:00", "2026-11-21 10:00:00")),
    ("stores", (1, "Downtown", "Springfield", "IL", "2020-05-01 09:00:00", "2026-01-01 00:00:00")),
    ("orders", (10, 1, 1, "2026-11-20 12:00:00", "completed", 19.99, "USD", "2026-11-20 12:00:00")),
    ("orders", (11, None, 1, "2026-02-30 12:00:00", "completed", 5.00, "USD", "2026-11-20 12:30:00")),
    ("order_lines", (100, 10, "SKU-1", "Mug", "Kitchen", 2, 9.995, "2026-11-20 12:00:00")),
]  # fmt: skip


class Pos:
    """A tiny POS database in SQLite or PostgreSQL, written through the DB-API."""

    def __init__(self, connection, placeholder: str, updated_at_type: str = "TEXT"):
        self.connection = connection
        self.placeholder = placeholder
        for ddl in POS_DDL:
            self.execute(ddl.replace("updated_at TEXT", f"updated_at {updated_at_type}"))
        for table, row in SEED:
            self.insert(table, row)

    def execute(self, sql: str, params=()):
        cursor = self.connection.cursor()
        cursor.execute(sql, params)
        self.connection.commit()

    def insert(self, table: str, row: tuple):
        marks = ", ".join([self.placeholder] * len(row))
        self.execute(f"INSERT INTO {table} VALUES ({marks})", row)


def _rows(settings, sql):
    with connect(settings, read_only=True) as con:
        return con.execute(sql).fetchall()


def _by_table(reports):
    [report] = reports
    return report


def _exercise(settings: Settings, pos: Pos) -> None:
    first = _by_table(ingest(settings, "run-1", "store"))
    assert (first.rows_read, first.rows_loaded, first.rows_quarantined) == (6, 5, 1)
    assert _rows(settings, "SELECT count(*) FROM raw.store_customers")[0] == (2,)
    ann = _rows(settings, "SELECT birth_date, is_marketing_opt_in, updated_at FROM raw.store_customers "
                          "WHERE customer_id = 1")[0]  # fmt: skip
    assert ann == (datetime(1980, 2, 1).date(), True, datetime(2026, 11, 20, 10))
    assert _rows(settings, "SELECT total_amount FROM raw.store_orders") == [(Decimal("19.99"),)]
    # 9.995 per unit: the POS's precision, not rounded to cents (DECIMAL(12,2) stored 10.00)
    assert _rows(settings, "SELECT unit_price FROM raw.store_order_lines") == [(Decimal("9.995"),)]
    field, reason = _rows(settings, "SELECT field, reason FROM meta.quarantine")[0]
    assert field == "ordered_at" and reason.startswith("invalid-field-type")

    # Rerun: the overlap window re-reads recent rows, but nothing is loaded twice.
    second = _by_table(ingest(settings, "run-2", "store"))
    assert second.rows_loaded == 0 and second.rows_read > 0
    # The bad order is re-read (it is above the watermark) but not quarantined a second time.
    assert second.rows_quarantined == 0
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine") == [(1,)]
    assert _rows(settings, "SELECT count(*) FROM raw.store_customers")[0] == (2,)

    # An update, a new customer, and a late commit 30 minutes behind the watermark.
    pos.execute("UPDATE customers SET email = 'bob@example.com', updated_at = '2026-11-22 08:00:00' "
                "WHERE customer_id = 2")  # fmt: skip
    pos.insert("customers", (3, None, "Cy", "Moss", "cy@example.com", None, None, None, None, None, None, "US", 1,
                             "2026-11-22 09:00:00", "2026-11-22 09:00:00"))  # fmt: skip
    pos.insert("customers", (4, None, "Di", "Park", "di@example.com", None, None, None, None, None, None, "US", 0,
                             "2026-11-22 08:30:00", "2026-11-22 08:30:00"))  # fmt: skip
    ingest(settings, "run-3", "store")
    pos.insert("customers", (5, None, "Ed", "Late", None, None, None, None, None, None, None, "US", 0,
                             "2026-11-22 08:30:00", "2026-11-22 08:30:00"))  # fmt: skip
    fourth = _by_table(ingest(settings, "run-4", "store"))
    assert fourth.rows_loaded == 1  # the late commit inside the overlap window
    customers = dict(_rows(settings, "SELECT customer_id, email FROM raw.store_customers"))
    assert customers == {
        1: "ann@example.com",
        2: "bob@example.com",
        3: "cy@example.com",
        4: "di@example.com",
        5: None,
    }
    watermark = _rows(
        settings, "SELECT max(watermark_to) FROM meta.ingest_manifest WHERE source_object = 'customers'"
    )
    assert watermark == [(datetime(2026, 11, 22, 9),)]


def test_sqlite_pos_incremental_upsert(settings, tmp_path):
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    pos = Pos(connection, "?")
    settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")
    try:
        _exercise(settings, pos)
    finally:
        connection.close()


@pytest.mark.postgres
@pytest.mark.parametrize("updated_at_type", ["TEXT", "TIMESTAMPTZ"])
def test_postgres_pos_incremental_upsert(settings, monkeypatch, updated_at_type):
    """Also with timestamptz watermarks read by a session whose time zone is not UTC (PGTZ)."""
    psycopg = pytest.importorskip("psycopg")
    base = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        admin = psycopg.connect(base, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"cdp_ingest_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    uri = f"{base}?options=-csearch_path%3D{schema}"
    # Every libpq session opened from here on (the ingester's included) defaults to a zone 8 hours
    # behind UTC: casting timestamptz to timestamp in that zone would skip the late commit.
    monkeypatch.setenv("PGTZ", "America/Los_Angeles")
    connection = psycopg.connect(uri)
    # The test writer's literals ('2026-11-22 08:30:00') are UTC, as the POS contract says.
    connection.execute("SET TIME ZONE 'UTC'")
    connection.commit()
    try:
        pos = Pos(connection, "%s", updated_at_type)
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=uri)
        _exercise(settings, pos)
        lineage = _rows(settings, "SELECT DISTINCT _source_file FROM raw.store_stores")[0][0]
        assert lineage.startswith("postgresql://") and "FROM stores" in lineage
    finally:
        connection.close()
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


def test_crash_before_the_manifest_row_rolls_back_rows_and_watermark(settings, tmp_path, monkeypatch):
    from ingestion import manifest

    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    Pos(connection, "?")
    connection.close()
    settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")

    def crash(con, entry):
        raise RuntimeError("simulated crash after the upsert")

    monkeypatch.setattr(manifest, "record", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest(settings, "run-1", "store")
    assert _rows(settings, "SELECT count(*) FROM raw.store_customers") == [(0,)]
    assert _rows(settings, "SELECT count(*) FROM meta.ingest_manifest") == [(0,)]
    monkeypatch.undo()
    report = _by_table(ingest(settings, "run-2", "store"))
    assert report.rows_loaded == 5 and report.rows_quarantined == 1


@pytest.mark.parametrize(
    "values",
    [
        (1, None, 2**70),
        ("a", None, "ü"),
        (None, None),
        (True, False, None),
        (1, "x"),  # SQLite lets a column mix types
        (1.5, 2, 12.0, 1e-07),
        (datetime(2026, 11, 1, 10, 0), None),
        (b"ab", None),
    ],
)
def test_fetched_columns_render_like_the_value_by_value_path(values):
    from ingestion.store_pos import _as_text, _text_column

    assert _text_column(values).to_pylist() == [_as_text(v) for v in values]


def test_sqlite_columns_of_mixed_types_and_late_first_values(settings, tmp_path):
    """SQLite lets a column mix types; a column NULL in its first rows still reads its later text.

    (The SQLite driver infers each Arrow column's type from its first rows.)
    """
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    Pos(connection, "?")
    stamp = "2026-11-20 10:00:00"
    rows = [(i, None, f"N{i}", None, None, None, None, None, None, None, None, "US", None, stamp, stamp)
            for i in range(100, 3100)]  # fmt: skip
    rows += [
        (3100, "L-9", "Eve", "Moss", "eve@example.com", 5550009, "1990-01-02", "2 High St", "Leeds", 12345,
         None, "GB", "1", stamp, stamp),
        (3101, 42, "Max", "Ray", None, 5.5e-07, None, None, None, 1.0, None, "GB", 0, stamp, stamp),
    ]  # fmt: skip
    connection.executemany(CUSTOMER.format(p="?"), rows)
    connection.commit()
    connection.close()
    settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")
    report = _by_table(ingest(settings, "run-1", "store"))
    assert report.rows_quarantined == 1  # the seed's order with 30 February
    got = _rows(
        settings,
        "SELECT customer_id, loyalty_card_number, phone, postcode, is_marketing_opt_in FROM raw.store_customers "
        "WHERE customer_id IN (100, 3100, 3101) ORDER BY customer_id",
    )
    assert got == [
        (100, None, None, None, None),
        (3100, "L-9", "5550009", "12345", True),
        (3101, "42", "5.5e-07", "1.0", False),
    ]


@pytest.fixture
def pg_uri(monkeypatch):
    """A URI to a fresh schema of the local PostgreSQL (dropped afterwards); skips when unreachable."""
    psycopg = pytest.importorskip("psycopg")
    base = "postgresql://postgres@127.0.0.1:5432/test"
    try:
        admin = psycopg.connect(base, connect_timeout=3, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    schema = f"cdp_ingest_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        admin.execute(f"DROP SCHEMA {schema} CASCADE")
        admin.close()


@pytest.mark.postgres
def test_postgres_text_updated_at_that_is_not_a_time_does_not_break_later_runs(settings, pg_uri):
    """CAST(updated_at AS timestamp) in the WHERE clause raised on 'n/a' from the second run on."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s")
        pos.insert("stores", (2, "Bad", None, None, None, "n/a"))
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        first = _by_table(ingest(settings, "run-1", "store"))
        assert (first.rows_loaded, first.rows_quarantined) == (5, 2)
        pos.execute("UPDATE customers SET email = 'bob@example.com', updated_at = '2026-11-22 08:00:00' "
                    "WHERE customer_id = 2")  # fmt: skip
        second = _by_table(ingest(settings, "run-2", "store"))
        assert (second.rows_loaded, second.rows_quarantined, second.files_failed) == (1, 0, 0)
        assert _rows(settings, "SELECT email FROM raw.store_customers WHERE customer_id = 2") == [
            ("bob@example.com",)
        ]
        # The bad store is re-read (text that is not a date sorts after every date) but kept once.
        assert _rows(settings, "SELECT field, reason FROM meta.quarantine WHERE reason LIKE '%stores%'") == [
            ("updated_at", "invalid-field-type: stores.updated_at (key 2) is not a valid TIMESTAMP")
        ]
    finally:
        connection.close()


def test_far_future_updated_at_is_quarantined_and_kept_out_of_the_watermark(settings, tmp_path, monkeypatch):
    """One updated_at typed 2206 moved the watermark to 2206: every later night read 0 rows."""
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    pos = Pos(connection, "?")
    pos.insert("stores", (2, "Typo", None, None, None, "2206-11-22 08:00:00"))
    settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")

    def stores_watermark():
        return _rows(settings, "SELECT max(watermark_to) FROM meta.ingest_manifest WHERE source_object = 'stores'")

    def future_rows():
        return _rows(settings, "SELECT field, reason FROM meta.quarantine WHERE reason LIKE 'future-updated-at%'")

    try:
        first = _by_table(ingest(settings, "run-1", "store"))
        assert (first.rows_loaded, first.rows_quarantined) == (5, 2)
        assert stores_watermark() == [(datetime(2026, 1, 1),)]
        [(field, reason)] = future_rows()
        assert field == "updated_at"
        assert reason.startswith("future-updated-at: stores.updated_at (key 2) is 2206-11-22 08:00:00")
        assert _rows(settings, "SELECT store_id FROM raw.store_stores") == [(1,)]

        # A warehouse loaded before the fix holds the 2206 watermark: it is ignored.
        with connect(settings) as con:
            con.execute("UPDATE meta.ingest_manifest SET watermark_to = '2206-11-22 08:00:00' "
                        "WHERE source_object = 'stores'")  # fmt: skip
        pos.insert("stores", (3, "New store", None, None, None, "2026-11-23 09:00:00"))
        pos.execute("UPDATE stores SET store_name = 'Renamed', updated_at = '2026-11-23 09:00:00' WHERE store_id = 1")
        second = _by_table(ingest(settings, "run-2", "store"))
        assert (second.rows_loaded, second.rows_quarantined) == (2, 0)  # the typo is re-read, kept once
        assert _rows(settings, "SELECT store_id, store_name FROM raw.store_stores ORDER BY 1") == [
            (1, "Renamed"),
            (3, "New store"),
        ]
        assert stores_watermark() == [(datetime(2206, 11, 22, 8),)]  # the old row; the new one:
        assert _rows(settings, "SELECT watermark_to FROM meta.ingest_manifest WHERE source_object = 'stores' "
                               "AND run_id = 'run-2'") == [(datetime(2026, 11, 23, 9),)]  # fmt: skip
        assert len(future_rows()) == 1

        # Once the clock passes it, the row loads (and the watermark stays at the read time).
        monkeypatch.setattr("ingestion.store_pos.audit_now", lambda: datetime(2207, 1, 1))
        third = _by_table(ingest(settings, "run-3", "store"))
        assert (third.rows_loaded, third.rows_quarantined) == (1, 0)
        assert _rows(settings, "SELECT store_name FROM raw.store_stores WHERE store_id = 2") == [("Typo",)]
    finally:
        connection.close()


def test_a_row_stamped_later_on_the_run_date_loads_when_the_run_reads_before_the_day_ends(
    settings, tmp_path, monkeypatch
):
    """`cdp generate` + `cdp run` for today quarantined every row stamped after the wall clock + 1 h."""
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    pos = Pos(connection, "?")
    pos.insert("stores", (2, "Evening", None, None, None, "2026-11-23 23:30:00"))  # later on the run date
    pos.insert("stores", (3, "Tomorrow", None, None, None, "2026-11-24 02:00:00"))  # a clock error
    settings = Settings(home=settings.home, run_date=date(2026, 11, 23), store_db_uri=f"sqlite:///{path}")
    monkeypatch.setattr("ingestion.store_pos.audit_now", lambda: datetime(2026, 11, 23, 10))
    try:
        ingest(settings, "run-1", "store")
        assert _rows(settings, "SELECT store_id FROM raw.store_stores ORDER BY 1") == [(1,), (2,)]
        assert _rows(settings, "SELECT reason FROM meta.quarantine WHERE reason LIKE 'future%'") == [
            ("future-updated-at: stores.updated_at (key 3) is 2026-11-24 02:00:00, more than 1:00:00 after "
             "the time it was read; left out of the watermark and loaded once it is corrected or that time "
             "has passed",)
        ]  # fmt: skip
        # The watermark stays at the read time: the evening row is read again, and skipped as unchanged.
        assert _rows(settings, "SELECT watermark_to FROM meta.ingest_manifest WHERE source_object = 'stores'") == [
            (datetime(2026, 11, 23, 10),)
        ]
        monkeypatch.setattr("ingestion.store_pos.audit_now", lambda: datetime(2026, 11, 23, 11))
        again = _by_table(ingest(settings, "run-2", "store"))
        assert (again.rows_loaded, again.rows_quarantined) == (0, 0)
    finally:
        connection.close()


def _drifted_pos(pos: Pos, extra_column: str) -> None:
    """customers without loyalty_card_number and with an unknown column; orders without updated_at."""
    pos.execute("DROP TABLE customers")
    pos.execute(
        "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, first_name TEXT, last_name TEXT, email TEXT, "
        "phone TEXT, birth_date TEXT, street TEXT, city TEXT, postcode TEXT, state TEXT, country TEXT, "
        f"is_marketing_opt_in INTEGER, created_at TEXT, updated_at TEXT, {extra_column} TEXT)"
    )
    pos.execute(
        f"INSERT INTO customers (customer_id, email, updated_at, {extra_column}) VALUES "
        "(1, 'ann@example.com', '2026-11-20 10:00:00', 'gold'), (2, 'bob@example.com', '2026-11-21 10:00:00', NULL)"
    )
    pos.execute("DROP TABLE orders")
    pos.execute("CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, status TEXT)")


def _exercise_drift(settings: Settings, pos: Pos, extra_column: str) -> None:
    # A warehouse created before raw.store_* had `extra` gains it.
    with connect(settings) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute("CREATE TABLE raw.store_stores (store_id BIGINT, store_name VARCHAR, city VARCHAR, state VARCHAR, "
                    "opened_at TIMESTAMP, updated_at TIMESTAMP, _source_file VARCHAR NOT NULL, _source_line BIGINT, "
                    "_batch_id VARCHAR NOT NULL, _loaded_at TIMESTAMP NOT NULL)")  # fmt: skip
    _drifted_pos(pos, extra_column)
    first = _by_table(ingest(settings, "run-1", "store"))
    assert (first.files_loaded, first.files_failed) == (3, 1)
    customers = "SELECT customer_id, loyalty_card_number, email, extra FROM raw.store_customers ORDER BY 1"
    assert _rows(settings, customers) == [
        (1, None, "ann@example.com", json.dumps({extra_column.strip('"'): "gold"}, separators=(",", ":"))),
        (2, None, "bob@example.com", None),
    ]
    assert _rows(settings, "SELECT store_id, extra FROM raw.store_stores") == [(1, None)]
    assert any("orders" in m and "no column updated_at" in m for m in first.messages)
    statuses = dict(_rows(settings, "SELECT source_object, status FROM meta.ingest_manifest"))
    assert statuses == {"customers": "loaded", "stores": "loaded", "orders": "failed", "order_lines": "loaded"}
    [(field, reason)] = _rows(settings, "SELECT field, reason FROM meta.quarantine WHERE reason LIKE 'missing-column%'")
    assert field == "updated_at" and reason.startswith("missing-column: store table orders has no column updated_at")
    message = _rows(settings, "SELECT message FROM meta.ingest_manifest WHERE source_object = 'customers'")[0][0]
    assert "loaded as NULL: loyalty_card_number; source columns kept in extra: " + extra_column.strip('"') in message

    # Rerun: nothing reloaded, the failure is recorded again but quarantined once.
    second = _by_table(ingest(settings, "run-2", "store"))
    assert (second.rows_loaded, second.files_failed) == (0, 1)
    assert _rows(settings, "SELECT count(*) FROM meta.quarantine WHERE reason LIKE 'missing-column%'") == [(1,)]
    # A change to the unknown column alone (same updated_at, inside the overlap window) is a change.
    pos.execute(f"UPDATE customers SET {extra_column} = 'bronze' WHERE customer_id = 2")
    third = _by_table(ingest(settings, "run-3", "store"))
    assert third.rows_loaded == 1
    assert _rows(settings, "SELECT extra->>'$.*' FROM raw.store_customers WHERE customer_id = 2") == [(["bronze"],)]


def test_sqlite_schema_drift_missing_optional_unknown_and_missing_required_columns(settings, tmp_path):
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    try:
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")
        _exercise_drift(settings, Pos(connection, "?"), "tier")
    finally:
        connection.close()


@pytest.mark.postgres
def test_postgres_schema_drift_missing_optional_unknown_and_missing_required_columns(settings, pg_uri):
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        _exercise_drift(settings, Pos(connection, "%s"), '"Loyalty Tier"')
    finally:
        connection.close()


def _customer(customer_id: int, email: str, updated_at: str | None) -> tuple:
    return (customer_id, None, "New", "Person", email, None, None, None, None, None, None, "US", 1,
            "2026-11-01 00:00:00", updated_at)  # fmt: skip


@pytest.mark.parametrize("name", ["pos #1.sqlite", "pos?v=2.sqlite", "pos%41.sqlite", "pos%.sqlite"])
def test_a_sqlite_path_with_uri_characters_opens_that_file_read_only(settings, tmp_path, name):
    """The path went into a file: URI unescaped: '#' or '?' ended the file name there and '%41'
    read as 'A', so another file was opened (or an empty one created beside the POS)."""
    folder = tmp_path / "pos"
    folder.mkdir()
    path = folder / name
    connection = sqlite3.connect(path)
    Pos(connection, "?")
    connection.close()
    settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=f"sqlite:///{path}")
    report = _by_table(ingest(settings, "run-1", "store"))
    assert (report.rows_loaded, report.rows_quarantined) == (5, 1)
    assert sorted(p.name for p in folder.iterdir()) == [name]


@pytest.fixture
def sqlite_pos(settings, tmp_path):
    """(a SQLite POS seeded with SEED, settings reading it); the connection is closed afterwards."""
    path = tmp_path / "pos.sqlite"
    connection = sqlite3.connect(path)
    try:
        yield Pos(connection, "?"), Settings(home=settings.home, run_date=settings.run_date,
                                             store_db_uri=f"sqlite:///{path}")  # fmt: skip
    finally:
        connection.close()


def test_a_row_without_updated_at_added_after_the_first_read_is_loaded_not_left_behind(sqlite_pos):
    """`updated_at >= watermark` never matches NULL: a POS row without updated_at inserted after the
    first (full) read was never read, loaded or quarantined, though the first read loads such rows."""
    pos, settings = sqlite_pos
    ingest(settings, "run-1", "store")
    pos.insert("customers", _customer(3, "legacy@example.com", None))
    second = _by_table(ingest(settings, "run-2", "store"))
    assert second.rows_loaded == 1
    assert _rows(settings, "SELECT email, updated_at FROM raw.store_customers WHERE customer_id = 3") == [
        ("legacy@example.com", None)
    ]
    # Read again every run, skipped while unchanged, and a later edit still arrives.
    assert _by_table(ingest(settings, "run-3", "store")).rows_loaded == 0
    pos.execute("UPDATE customers SET email = 'fixed@example.com' WHERE customer_id = 3")
    assert _by_table(ingest(settings, "run-4", "store")).rows_loaded == 1
    assert _rows(settings, "SELECT email FROM raw.store_customers WHERE customer_id = 3") == [
        ("fixed@example.com",)
    ]
    assert _rows(settings, "SELECT count(*) FROM raw.store_customers") == [(3,)]


def test_updated_at_text_with_a_utc_offset_is_read_as_that_instant_and_not_skipped(sqlite_pos):
    """SQLite text '2026-11-20T10:00:00-05:00' loaded as 10:00 (the offset dropped, five hours
    wrong), and a row whose local date is before the watermark's UTC date was never read."""
    pos, settings = sqlite_pos
    pos.insert("customers", _customer(3, "east@example.com", "2026-11-20T10:00:00-05:00"))
    ingest(settings, "run-1", "store")
    assert _rows(settings, "SELECT updated_at FROM raw.store_customers WHERE customer_id = 3") == [
        (datetime(2026, 11, 20, 15),)
    ]
    # The watermark is Bob's 2026-11-21 10:00 UTC; 23:30 at UTC-11 on the 20th is 10:30 UTC on the 21st.
    pos.insert("customers", _customer(4, "samoa@example.com", "2026-11-20T23:30:00-11:00"))
    second = _by_table(ingest(settings, "run-2", "store"))
    assert second.rows_loaded == 1
    assert _rows(settings, "SELECT updated_at FROM raw.store_customers WHERE customer_id = 4") == [
        (datetime(2026, 11, 21, 10, 30),)
    ]
    assert _rows(settings, "SELECT max(watermark_to) FROM meta.ingest_manifest "
                           "WHERE source_object = 'customers'") == [(datetime(2026, 11, 21, 10, 30),)]  # fmt: skip


@pytest.mark.postgres
def test_postgres_text_updated_at_null_or_with_an_offset_is_read(settings, pg_uri):
    """The same two reads against PostgreSQL text columns (the query's LIKE patterns escape psycopg's %)."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s")
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        ingest(settings, "run-1", "store")
        pos.insert("customers", _customer(3, "legacy@example.com", None))
        pos.insert("customers", _customer(4, "samoa@example.com", "2026-11-20T23:30:00-11:00"))
        pos.insert("customers", _customer(5, "pago@example.com", "2026-11-20 23:30:00 Pacific/Pago_Pago"))
        assert _by_table(ingest(settings, "run-2", "store")).rows_loaded == 3
        assert _rows(settings, "SELECT customer_id, updated_at FROM raw.store_customers WHERE customer_id > 2 "
                               "ORDER BY 1") == [(3, None), (4, datetime(2026, 11, 21, 10, 30)),
                                                 (5, datetime(2026, 11, 21, 10, 30))]  # fmt: skip
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00-05:00", datetime(2026, 11, 20, 15)),
        ("2026-11-20 10:00-05", datetime(2026, 11, 20, 15)),  # as long as the plain form
        ("2026-11-20 10:00:00+0530", datetime(2026, 11, 20, 4, 30)),
        ("2026-11-20 10:00:00.5+01:00", datetime(2026, 11, 20, 9, 0, 0, 500000)),
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10)),
        ("2026-11-20 10:00:00", datetime(2026, 11, 20, 10)),
        ("2026-11-20", datetime(2026, 11, 20)),
        ("n/a", None),
        # a zone name was dropped like an offset (10:00); one the zone database lacks does not cast
        ("2026-11-20 10:00:00 America/New_York", datetime(2026, 11, 20, 15)),
        ("2026-07-20T10:00:00.5 Europe/Berlin", datetime(2026, 7, 20, 8, 0, 0, 500000)),
        ("2026-11-20 10:00 EST", datetime(2026, 11, 20, 15)),
        ("2026-11-20 10:00:00 Etc/GMT+5", datetime(2026, 11, 20, 15)),
        ("2026-11-20 10:00:00 UTC", datetime(2026, 11, 20, 10)),
        ("2026-11-20 10:00:00 Foo/Bar", None),
        ("2026-11-20 10:00:00 n/a", None),
    ],
)
def test_timestamp_text_is_cast_to_utc(text, expected):
    import duckdb

    from ingestion.store_pos import _cast

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    assert con.execute(f"SELECT {_cast('s', 'TIMESTAMP')} FROM (SELECT ? AS s)", [text]).fetchall() == [(expected,)]


def test_updated_at_text_with_an_hours_only_offset_is_read_from_before_the_watermark(sqlite_pos):
    """PostgreSQL prints a timestamptz as '2026-11-20 23:30:00-11': the cast read its offset, the
    incremental filter did not look back for it, so the row was never read."""
    pos, settings = sqlite_pos
    ingest(settings, "run-1", "store")
    pos.insert("customers", _customer(4, "samoa@example.com", "2026-11-20 23:30:00-11"))
    assert _by_table(ingest(settings, "run-2", "store")).rows_loaded == 1
    assert _rows(settings, "SELECT updated_at FROM raw.store_customers WHERE customer_id = 4") == [
        (datetime(2026, 11, 21, 10, 30),)
    ]


def test_updated_at_text_with_a_zone_name_is_read_as_that_instant_or_quarantined(sqlite_pos):
    """'2026-11-20 10:00:00 America/New_York' loaded as 10:00 (the zone dropped, five hours wrong);
    a zone name is read like an offset, also from before the watermark, and an unknown one is
    quarantined naming the field instead of loading as the local time."""
    pos, settings = sqlite_pos
    pos.insert("customers", _customer(3, "east@example.com", "2026-11-20 10:00:00 America/New_York"))
    pos.insert("customers", _customer(5, "nowhere@example.com", "2026-11-20 10:00:00 Mars/Olympus"))
    first = _by_table(ingest(settings, "run-1", "store"))
    assert _rows(settings, "SELECT updated_at FROM raw.store_customers WHERE customer_id = 3") == [
        (datetime(2026, 11, 20, 15),)
    ]
    assert first.rows_quarantined == 2  # and the seed's 30 February
    assert _rows(settings, "SELECT field, reason FROM meta.quarantine WHERE raw_text LIKE '%Mars%'") == [
        ("updated_at", "invalid-field-type: customers.updated_at (key 5) is not a valid TIMESTAMP")
    ]
    # The watermark is Bob's 2026-11-21 10:00 UTC; 23:30 at UTC-11 on the 20th is 10:30 UTC on the 21st.
    pos.insert("customers", _customer(4, "pago@example.com", "2026-11-20 23:30:00 Pacific/Pago_Pago"))
    assert _by_table(ingest(settings, "run-2", "store")).rows_loaded == 1
    assert _rows(settings, "SELECT updated_at FROM raw.store_customers WHERE customer_id = 4") == [
        (datetime(2026, 11, 21, 10, 30),)
    ]


OPT_IN = "SELECT is_marketing_opt_in, marketing_opt_in_changed_at FROM raw.store_customers WHERE customer_id = {}"


def test_marketing_opt_in_changed_at_moves_only_when_the_flag_changes(sqlite_pos):
    """The raw table keeps only the current row, so the store upsert records when the opt-in took its
    value: a profile edit (new phone) keeps it, a flipped flag takes the row's updated_at, a customer
    seen for the first time its own updated_at (else created_at). dbt dates the store's consent
    statement by it, so an edit does not re-state an old opt-in over a newer refusal elsewhere."""
    pos, settings = sqlite_pos
    ingest(settings, "run-1", "store")
    assert _rows(settings, OPT_IN.format(1)) == [(True, datetime(2026, 11, 20, 10))]
    assert _rows(settings, OPT_IN.format(2)) == [(False, datetime(2026, 11, 21, 10))]

    pos.execute("UPDATE customers SET phone = '555-0099', updated_at = '2026-11-22 10:00:00' WHERE customer_id = 1")
    pos.execute("UPDATE customers SET is_marketing_opt_in = 1, updated_at = '2026-11-22 11:00:00' "
                "WHERE customer_id = 2")  # fmt: skip
    pos.insert("customers", (3, None, "Cy", "Moss", None, None, None, None, None, None, None, "US", 0,
                             "2026-11-22 09:00:00", None))  # fmt: skip
    assert _by_table(ingest(settings, "run-2", "store")).rows_loaded == 3
    assert _rows(settings, OPT_IN.format(1)) == [(True, datetime(2026, 11, 20, 10))]  # edit: kept
    assert _rows(settings, OPT_IN.format(2)) == [(True, datetime(2026, 11, 22, 11))]  # flipped
    assert _rows(settings, OPT_IN.format(3)) == [(False, datetime(2026, 11, 22, 9))]  # new, no updated_at

    # Kept across a further edit and a rerun; a flag set back takes that row's time.
    pos.execute("UPDATE customers SET street = '2 Main St', updated_at = '2026-11-22 12:00:00' WHERE customer_id = 1")
    ingest(settings, "run-3", "store")
    assert _by_table(ingest(settings, "run-4", "store")).rows_loaded == 0
    assert _rows(settings, OPT_IN.format(1)) == [(True, datetime(2026, 11, 20, 10))]
    pos.execute("UPDATE customers SET is_marketing_opt_in = 0, updated_at = '2026-11-22 13:00:00' "
                "WHERE customer_id = 2")  # fmt: skip
    ingest(settings, "run-5", "store")
    assert _rows(settings, OPT_IN.format(2)) == [(False, datetime(2026, 11, 22, 13))]


def test_a_table_loaded_before_the_opt_in_column_gets_it_dated_by_each_row(sqlite_pos):
    """Upgrade: rows loaded before the column existed are dated by their own updated_at (else
    created_at), what dbt used before; a later edit of such a row keeps that date."""
    pos, settings = sqlite_pos
    ingest(settings, "run-1", "store")
    with connect(settings) as con:
        con.execute("ALTER TABLE raw.store_customers DROP COLUMN marketing_opt_in_changed_at")
        con.execute("UPDATE raw.store_customers SET updated_at = NULL WHERE customer_id = 2")
    pos.execute("UPDATE customers SET phone = '555-0099', updated_at = '2026-11-22 10:00:00' WHERE customer_id = 1")
    ingest(settings, "run-2", "store")
    assert _rows(settings, OPT_IN.format(1)) == [(True, datetime(2026, 11, 20, 10))]
    assert _rows(settings, OPT_IN.format(2)) == [(False, datetime(2026, 1, 2, 10))]


# Amounts as the POS holds them: three decimal places (KWD, fuel per litre), a REAL computed by
# float arithmetic in the POS, and three that do not fit DECIMAL(18,4) without changing.
STAMP = "2026-11-20 13:00:00"
AMOUNT_ORDERS = [
    (20, 1, 1, STAMP, "completed", 19.999, "KWD", STAMP),
    (21, 1, 1, STAMP, "completed", 0.1 + 0.2, "USD", STAMP),  # a float sum: 0.30000000000000004
    (22, 2, 1, STAMP, "completed", "19.99999", "USD", STAMP),
    (23, 2, 1, STAMP, "completed", 10**15, "USD", STAMP),
]
AMOUNT_LINES = [
    (101, 20, "FUEL-D", "Diesel", "Fuel", 10, 1.859, STAMP),  # per litre
    (102, 20, "TEA", "Tea", "Grocery", 1, 1.409, STAMP),  # 1 dinar 409 fils
    (103, 21, "BIG", "Bulk", "Grocery", 1_000_000, 99_999_999_999.99, STAMP),  # the line amount does not fit
]
UNFIT = {
    ("orders", 22): ("total_amount", "is 19.99999: more than 4 decimal places"),
    ("orders", 23): ("total_amount", "is 1000000000000000: more than 14 digits before the decimal point"),
    ("order_lines", 103): ("unit_price", "is 99999999999.99: times quantity 1000000 it makes a line amount "
                                         "of more than 14 digits before the decimal point"),
}  # fmt: skip


def _exercise_amounts(settings: Settings, pos: Pos) -> None:
    for row in AMOUNT_ORDERS:
        pos.insert("orders", row)
    for row in AMOUNT_LINES:
        pos.insert("order_lines", row)
    first = _by_table(ingest(settings, "run-1", "store"))
    assert first.rows_quarantined == 1 + len(UNFIT)  # and the seed's 30 February
    assert _rows(settings, "SELECT order_id, total_amount FROM raw.store_orders ORDER BY 1") == [
        (10, Decimal("19.99")), (20, Decimal("19.999")), (21, Decimal("0.3")),
    ]  # fmt: skip
    assert _rows(settings, "SELECT order_line_id, unit_price FROM raw.store_order_lines ORDER BY 1") == [
        (100, Decimal("9.995")), (101, Decimal("1.859")), (102, Decimal("1.409")),
    ]  # fmt: skip
    quarantined = _rows(settings, "SELECT field, reason FROM meta.quarantine WHERE reason LIKE 'unrepresentable%'")
    assert len(quarantined) == len(UNFIT)
    for (table, key), (field, says) in UNFIT.items():
        prefix = f"unrepresentable-amount: {table}.{field} (key {key}) {says}; stored as DECIMAL(18,4) it would change"
        assert [f for f, reason in quarantined if reason.startswith(prefix)] == [field], prefix
    # Read again in the overlap window: kept once, nothing loaded twice.
    second = _by_table(ingest(settings, "run-2", "store"))
    assert (second.rows_loaded, second.rows_quarantined) == (0, 0)


def test_sqlite_amounts_keep_their_decimals_and_unfit_ones_are_quarantined(sqlite_pos):
    """19.999 was stored as 20.00 (DECIMAL(12,2)), a fuel price of 1.859 as 1.86."""
    _exercise_amounts(*reversed(sqlite_pos))


def test_an_amount_with_digit_separators_is_quarantined_not_read_as_a_number(sqlite_pos):
    """DuckDB reads '1_000' as 1000: a SQLite POS amount written so was loaded as 1000, where any
    other amount that is not a number is quarantined naming the field. (PostgreSQL's numeric
    refuses the text itself.)"""
    pos, settings = sqlite_pos
    pos.insert("orders", (24, 2, 1, STAMP, "completed", "1_000", "USD", STAMP))
    pos.insert("order_lines", (104, 20, "TEA", "Tea", "Grocery", 1, "1_0.5", STAMP))
    ingest(settings, "run-1", "store")
    assert _rows(settings, "SELECT count(*) FROM raw.store_orders WHERE order_id = 24") == [(0,)]
    quarantined = "SELECT field, reason FROM meta.quarantine WHERE field IN ('total_amount', 'unit_price') ORDER BY 1"
    assert _rows(settings, quarantined) == [
        ("total_amount", "invalid-field-type: orders.total_amount (key 24) is not a valid DECIMAL(18,4)"),
        ("unit_price", "invalid-field-type: order_lines.unit_price (key 104) is not a valid DECIMAL(18,4)"),
    ]


def test_a_quantity_or_id_that_is_not_a_whole_number_is_quarantined_not_rounded(sqlite_pos):
    """try_cast('2.5' AS INTEGER) is 3: a quantity of 2.5 was loaded as 3 (and '1_000', '0x1F' as
    1000 and 31); a SQLite REAL's whole '4.0' is still 4."""
    pos, settings = sqlite_pos
    for line_id, quantity in ((105, "2.5"), (106, "1_000"), (107, "0x1F"), (109, 4.0)):
        pos.insert("order_lines", (line_id, 20, "TEA", "Tea", "Grocery", quantity, "1.5", STAMP))
    ingest(settings, "run-1", "store")
    assert _rows(settings, "SELECT order_line_id, quantity FROM raw.store_order_lines WHERE order_line_id > 104") == [
        (109, 4)
    ]
    assert _rows(settings, "SELECT reason FROM meta.quarantine WHERE field = 'quantity' ORDER BY reason") == [
        (f"invalid-field-type: order_lines.quantity (key {key}) is not a valid INTEGER",) for key in (105, 106, 107)
    ]


@pytest.mark.postgres
def test_postgres_amounts_keep_their_decimals_and_unfit_ones_are_quarantined(settings, pg_uri):
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        _exercise_amounts(settings, Pos(connection, "%s"))
    finally:
        connection.close()


@pytest.mark.postgres
def test_postgres_float_amounts_are_read_with_the_digits_a_float_holds(settings, pg_uri):
    """psycopg hands a double precision 0.1 + 0.2 over as 0.30000000000000004: read as it is, it was
    quarantined for its binary noise. Read cast to numeric, it is 0.3 (a real 1.859 stays 1.859)."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s")
        pos.execute("ALTER TABLE orders ALTER COLUMN total_amount TYPE double precision")
        pos.execute("ALTER TABLE order_lines ALTER COLUMN unit_price TYPE real")
        pos.insert("orders", AMOUNT_ORDERS[1])
        pos.insert("order_lines", AMOUNT_LINES[0])
        # a real's direct cast to numeric keeps 6 significant digits: 12345.67 became 12345.7
        pos.insert("order_lines", (104, 21, "SOFA", "Sofa", "Home", 1, 12345.67, STAMP))
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        assert _by_table(ingest(settings, "run-1", "store")).rows_quarantined == 1  # 30 February
        assert _rows(settings, "SELECT total_amount FROM raw.store_orders WHERE order_id = 21") == [
            (Decimal("0.3"),)
        ]
        assert _rows(settings, "SELECT order_line_id, unit_price FROM raw.store_order_lines ORDER BY 1") == [
            (100, Decimal("9.995")), (101, Decimal("1.859")), (104, Decimal("12345.67")),
        ]  # fmt: skip
    finally:
        connection.close()


@pytest.mark.postgres
def test_postgres_session_settings_of_the_server_do_not_change_what_is_read(settings, pg_uri):
    """The reader pins the session settings it depends on. With extra_float_digits = 0 (set on the
    database, the role or in the URI's options) a real 12345.67 read through its text loaded as
    12345.7 without a word; with DateStyle German (or 'SQL, DMY') or IntervalStyle sql_standard
    psycopg raised NotImplementedError on every timestamp and the store source failed every night."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s", "TIMESTAMPTZ")
        pos.execute("ALTER TABLE order_lines ALTER COLUMN unit_price TYPE real")
        pos.execute("ALTER TABLE orders ADD COLUMN prep_time interval")
        pos.execute("UPDATE orders SET prep_time = interval '1 day 02:03:04' WHERE order_id = 10")
        pos.insert("order_lines", (104, 10, "SOFA", "Sofa", "Home", 1, 12345.67, STAMP))
        overrides = "%20".join(
            f"-c{name}%3D{value}"
            for name, value in [("extra_float_digits", "0"), ("DateStyle", "German"),
                                ("IntervalStyle", "sql_standard")]
        )  # fmt: skip
        uri = f"{pg_uri}%20{overrides}"
        with closing(psycopg.connect(uri)) as check:  # the overrides do apply to a session
            assert check.execute("SELECT CAST(real '12345.67' AS text)").fetchone() == ("12345.7",)
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=uri)
        assert _by_table(ingest(settings, "run-1", "store")).rows_quarantined == 1  # 30 February
        assert _rows(settings, "SELECT order_line_id, unit_price FROM raw.store_order_lines ORDER BY 1") == [
            (100, Decimal("9.995")), (104, Decimal("12345.67")),
        ]  # fmt: skip
        assert _rows(settings, "SELECT updated_at, extra->>'prep_time' FROM raw.store_orders") == [
            (datetime(2026, 11, 20, 12), "1 day, 2:03:04")
        ]
    finally:
        connection.close()


def test_a_warehouse_with_rounded_amounts_is_widened_and_reloaded(sqlite_pos):
    """Upgrade: raw tables an earlier version created with DECIMAL(12,2) held 19.999 as 20.00. The
    next ingestion widens them and reads those tables whole once (the rows are far below the
    watermark), so the amounts come back as the POS holds them; later runs are incremental again."""
    pos, settings = sqlite_pos
    for row in AMOUNT_ORDERS[:1]:
        pos.insert("orders", row)
    for row in AMOUNT_LINES[:2]:
        pos.insert("order_lines", row)
    ingest(settings, "run-1", "store")
    with connect(settings) as con:  # what the earlier version stored
        con.execute("ALTER TABLE raw.store_orders ALTER COLUMN total_amount SET DATA TYPE DECIMAL(12,2)")
        con.execute("ALTER TABLE raw.store_order_lines ALTER COLUMN unit_price SET DATA TYPE DECIMAL(12,2)")
    assert _rows(settings, "SELECT total_amount FROM raw.store_orders WHERE order_id = 20") == [(Decimal("20.00"),)]
    later = "2026-11-22 12:00:00"
    pos.insert("orders", (30, 1, 1, later, "completed", 5.25, "USD", later))
    pos.insert("order_lines", (300, 30, "SKU-1", "Mug", "Kitchen", 1, 5.25, later))

    def counts(run_id: str) -> dict[str, tuple[int, int]]:
        """Table -> (rows read, rows loaded) of the run."""
        rows = _rows(settings, "SELECT source_object, rows_read, rows_loaded FROM meta.ingest_manifest "
                               f"WHERE run_id = '{run_id}'")  # fmt: skip
        return {table: (read, loaded) for table, read, loaded in rows}

    ingest(settings, "run-2", "store")
    assert counts("run-2")["orders"] == (4, 2)  # all read (11 quarantined); 20 changed, 30 new
    assert counts("run-2")["order_lines"] == (4, 4)  # 9.995, 1.859 and 1.409 were rounded; 300 new
    assert _rows(settings, "SELECT order_id, total_amount FROM raw.store_orders ORDER BY 1") == [
        (10, Decimal("19.99")), (20, Decimal("19.999")), (30, Decimal("5.25")),
    ]  # fmt: skip
    assert _rows(settings, "SELECT order_line_id, unit_price FROM raw.store_order_lines ORDER BY 1") == [
        (100, Decimal("9.995")), (101, Decimal("1.859")), (102, Decimal("1.409")), (300, Decimal("5.25")),
    ]  # fmt: skip
    assert _rows(settings, "SELECT DISTINCT data_type FROM duckdb_columns() WHERE schema_name = 'raw' "
                           "AND column_name IN ('total_amount', 'unit_price')") == [("DECIMAL(18,4)",)]  # fmt: skip
    [message] = _rows(settings, "SELECT message FROM meta.ingest_manifest WHERE run_id = 'run-2' "
                                "AND source_object = 'orders'")[0]  # fmt: skip
    assert message.startswith("full read of orders; widened total_amount from DECIMAL(12,2) to DECIMAL(18,4)")
    ingest(settings, "run-3", "store")
    assert counts("run-3")["orders"] == (1, 0)  # incremental again: 30 in the overlap window


@pytest.mark.parametrize(
    ("text", "stored", "unfit"),
    [
        ("19.999", Decimal("19.999"), None),
        (" 1.8590 ", Decimal("1.859"), None),
        ("19.99900000", Decimal("19.999"), None),  # trailing zeros change nothing
        ("1.5e2", Decimal("150"), None),
        ("100e-6", Decimal("0.0001"), None),
        ("0E-10", Decimal("0"), None),  # PostgreSQL numeric zero, as psycopg's Decimal writes it
        ("99999999999999.9999", Decimal("99999999999999.9999"), None),
        ("19.99999", None, "more than 4 decimal places"),
        ("19.9990000000000000000000000001", None, "more than 4 decimal places"),
        ("1.0e-05", None, "more than 4 decimal places"),
        ("99999999999999.99999", None, "more than 4 decimal places"),
        ("100000000000000", None, "more than 14 digits before the decimal point"),
        ("1e14", None, "more than 14 digits before the decimal point"),
        ("1e-99999999999", None, "more than 4 decimal places"),
        ("12,50", None, None),  # not a number: invalid-field-type
        ("1_000.00001", None, None),  # DuckDB's own digit separators: not read (try_cast would round)
        ("1_000", None, None),  # short enough to skip the regex, and try_cast read it as 1000
        ("1_000.50", None, None),
        ("-1_0", None, None),
    ],
)
def test_amount_text_is_stored_exactly_or_not_at_all(text, stored, unfit):
    import duckdb

    from ingestion.store_pos import AMOUNT, _cast, _decimal_problem_sql

    con = duckdb.connect()
    value, problem = con.execute(
        f"SELECT {_cast('s', AMOUNT)}, {_decimal_problem_sql('s', AMOUNT)} FROM (SELECT ? AS s)", [text]
    ).fetchall()[0]
    assert problem == unfit
    if unfit is None:
        assert value == stored


@pytest.mark.postgres
def test_postgres_dates_python_cannot_hold_are_quarantined_not_a_failed_source(settings, pg_uri):
    """psycopg raised DataError on a date or timestamp Python has no value for (infinity, a BC
    date): the fetch failed, and with it every table of the store source, every run, naming no row."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s", "TIMESTAMPTZ")
        pos.execute("ALTER TABLE customers ALTER COLUMN birth_date TYPE date USING CAST(birth_date AS date), "
                    "ALTER COLUMN created_at TYPE timestamptz USING CAST(created_at AS timestamptz)")  # fmt: skip
        stamp = "2026-11-21 10:00:00+00"
        for customer_id, birth_date, created_at, updated_at in [
            (3, "0044-03-15 BC", stamp, stamp),
            (4, "infinity", stamp, stamp),
            (5, None, "-infinity", stamp),
            (6, None, stamp, "infinity"),
        ]:
            pos.insert("customers", (customer_id, None, "X", "Y", None, None, birth_date, None, None, None, None,
                                     "US", 1, created_at, updated_at))  # fmt: skip
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        first = _by_table(ingest(settings, "run-1", "store"))
        assert (first.files_failed, first.rows_loaded, first.rows_quarantined) == (0, 5, 5)  # 30 February too
        assert _rows(settings, "SELECT customer_id FROM raw.store_customers ORDER BY 1") == [(1,), (2,)]
        quarantined = "SELECT field, reason FROM meta.quarantine WHERE reason LIKE '%customers%' ORDER BY reason"
        assert _rows(settings, quarantined) == [
            ("birth_date", "timestamp-out-of-range: customers.birth_date (key 3) is 0044-03-15 BC: a DATE from "
                           "year 1 to 9999 is expected"),
            ("birth_date", "timestamp-out-of-range: customers.birth_date (key 4) is infinity: a DATE from "
                           "year 1 to 9999 is expected"),
            ("created_at", "timestamp-out-of-range: customers.created_at (key 5) is -infinity: a TIMESTAMP from "
                           "year 1 to 9999 is expected"),
            ("updated_at", "timestamp-out-of-range: customers.updated_at (key 6) is infinity: a TIMESTAMP from "
                           "year 1 to 9999 is expected"),
        ]  # fmt: skip
        # An infinite updated_at does not move the watermark to infinity (reads would stop for good).
        watermark = "SELECT max(watermark_to) FROM meta.ingest_manifest WHERE source_object = 'customers'"
        assert _rows(settings, watermark) == [(datetime(2026, 11, 21, 10),)]
        second = _by_table(ingest(settings, "run-2", "store"))
        assert (second.rows_loaded, second.rows_quarantined) == (0, 0)
        pos.execute("UPDATE customers SET updated_at = '2026-11-22 10:00:00+00' WHERE customer_id = 6")
        assert _by_table(ingest(settings, "run-3", "store")).rows_loaded == 1
        assert _rows(settings, watermark) == [(datetime(2026, 11, 22, 10),)]
    finally:
        connection.close()


def test_sqlite_text_that_is_not_utf8_is_quarantined_not_a_failed_source(sqlite_pos):
    """SQLite keeps any bytes as TEXT, and a BLOB in a TEXT column casts to its bytes: DuckDB refused
    the fetched table ("Invalid unicode"), so the store source failed every run, tables after
    customers unread."""
    pos, settings = sqlite_pos
    pos.execute("INSERT INTO customers (customer_id, first_name, email, updated_at) VALUES "
                "(3, CAST(X'C328' AS TEXT), 'cy@example.com', '2026-11-21 10:00:00'), "
                "(4, 'Di', X'00FF', '2026-11-21 10:00:00')")  # fmt: skip
    first = _by_table(ingest(settings, "run-1", "store"))
    assert (first.files_failed, first.rows_loaded, first.rows_quarantined) == (0, 5, 3)  # 30 February too
    assert _rows(settings, "SELECT customer_id FROM raw.store_customers ORDER BY 1") == [(1,), (2,)]
    assert _rows(settings, "SELECT count(*) FROM raw.store_order_lines") == [(1,)]
    quarantined = "SELECT field, reason, raw_text FROM meta.quarantine WHERE reason LIKE 'invalid-unicode%' ORDER BY 2"
    [(email, _, _), (first_name, reason, raw)] = _rows(settings, quarantined)
    assert (first_name, email) == ("first_name", "email")
    assert reason.startswith("invalid-unicode: customers.first_name (key 3) is not UTF-8 text")
    assert json.loads(raw)["first_name"] == "\\xc3("
    assert (_by_table(ingest(settings, "run-2", "store")).rows_quarantined,) == (0,)


@pytest.mark.postgres
def test_postgres_unknown_columns_are_kept_in_extra_as_json_values(settings, pg_uri):
    """Unknown columns were kept as Python's str(): a text[] as "['a', 'b']", jsonb as "{'x': 1}",
    bytea as "b'\\x00\\xff'" and a boolean as "1"."""
    import psycopg

    connection = psycopg.connect(pg_uri)
    try:
        pos = Pos(connection, "%s")
        pos.execute("ALTER TABLE customers ADD COLUMN tags text[], ADD COLUMN prefs jsonb, ADD COLUMN photo bytea, "
                    "ADD COLUMN is_vip boolean, ADD COLUMN visits integer, ADD COLUMN spend numeric, "
                    "ADD COLUMN first_visit date, ADD COLUMN last_visit_at timestamptz, ADD COLUMN note text")  # fmt: skip
        pos.execute("UPDATE customers SET tags = ARRAY['a', 'b'], prefs = '{\"x\": 1, \"y\": [true, null]}', "
                    "photo = '\\x00ff', is_vip = true, visits = 3, spend = 12.50, first_visit = '2020-01-02', "
                    "last_visit_at = '2026-11-20 10:00:00+02', note = 'ünï \"q\"' WHERE customer_id = 1")  # fmt: skip
        pos.execute("UPDATE customers SET is_vip = false, note = '' WHERE customer_id = 2")
        settings = Settings(home=settings.home, run_date=settings.run_date, store_db_uri=pg_uri)
        ingest(settings, "run-1", "store")
        extras = dict(_rows(settings, "SELECT customer_id, extra FROM raw.store_customers"))
        assert json.loads(extras[1]) == {
            "tags": ["a", "b"], "prefs": {"x": 1, "y": [True, None]}, "photo": "\\x00ff", "is_vip": True,
            "visits": 3, "spend": "12.50", "first_visit": "2020-01-02", "last_visit_at": "2026-11-20 08:00:00+00",
            "note": 'ünï "q"',
        }  # fmt: skip
        assert json.loads(extras[2]) == {"is_vip": False}  # empty text is left out, as before
        assert _by_table(ingest(settings, "run-2", "store")).rows_loaded == 0
    finally:
        connection.close()


def test_sqlite_unknown_columns_are_kept_in_extra_as_text_and_a_blob_as_hex(sqlite_pos):
    pos, settings = sqlite_pos
    pos.execute("ALTER TABLE customers ADD COLUMN photo BLOB")
    pos.execute("ALTER TABLE customers ADD COLUMN visits INTEGER")
    pos.execute("UPDATE customers SET photo = X'00FF', visits = 3 WHERE customer_id = 1")
    first = _by_table(ingest(settings, "run-1", "store"))
    assert first.rows_quarantined == 1  # 30 February only: the BLOB is not text that fails to decode
    extras = dict(_rows(settings, "SELECT customer_id, extra FROM raw.store_customers"))
    assert extras == {1: '{"photo":"\\\\x00ff","visits":"3"}', 2: None}
