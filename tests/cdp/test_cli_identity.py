"""`cdp identity explain` and `cdp resolve` from the command line: exit codes and messages."""

from __future__ import annotations

import csv

from cdp.cli import main
from cdp.settings import Settings
from cdp.warehouse import connect


def test_explain_without_a_warehouse_says_so(cdp_env, capsys):
    """It raised duckdb.IOException (a read-only open of a missing file) with a traceback."""
    assert main(["identity", "explain", "cus_0123456789abcdef"]) == 2
    error = capsys.readouterr().err
    assert "no warehouse at" in error and "cdp identity run" in error and "Traceback" not in error
    assert not Settings.from_env().warehouse_path.exists()


def test_explain_exit_code_tells_an_unknown_id(cdp_env, capsys):
    settings = Settings.from_env()
    with connect(settings) as con:
        con.execute("CREATE TABLE identity.customer_map (source_system VARCHAR, source_record_id VARCHAR, "
                    "customer_id VARCHAR, resolved_at TIMESTAMP, run_id VARCHAR)")
        con.execute("INSERT INTO identity.customer_map VALUES ('crm', '1', 'cus_a', NULL, 'run-1')")
        con.execute("CREATE TABLE identity.customer_id_history (run_id VARCHAR, old_customer_id VARCHAR, "
                    "new_customer_id VARCHAR, change_type VARCHAR, reason VARCHAR, changed_at TIMESTAMP)")
        con.execute("INSERT INTO identity.customer_id_history VALUES ('run-2', 'cus_b', 'cus_a', 'merge', 'why', NULL)")
        con.execute("CREATE TABLE identity.links (source_record_key_l VARCHAR, source_record_key_r VARCHAR, "
                    "link_type VARCHAR, rule VARCHAR, match_weight DOUBLE, match_probability DOUBLE, "
                    "comparison_levels JSON, is_accepted BOOLEAN, rejected_reason VARCHAR)")
        con.execute("CREATE TABLE identity.person_records_standardised AS SELECT 'crm' AS source_system, "
                    "'1' AS source_record_id, 'Ann' AS first_name, NULL AS last_name, NULL::DATE AS date_of_birth, "
                    "NULL AS email, NULL AS phone, NULL AS street, NULL AS postcode, NULL AS city")
    assert main(["identity", "explain", "cus_a"]) == 0
    assert capsys.readouterr().out.startswith("Customer cus_a: 1 source record(s)")
    assert main(["identity", "explain", "cus_b"]) == 0  # merged away: answered from the history
    assert "merge in run run-2 into cus_a" in capsys.readouterr().out
    assert main(["identity", "explain", "cus_nope"]) == 1
    assert "cus_nope is not in identity.customer_map" in capsys.readouterr().err


def test_resolve_takes_a_date_format(cdp_env, tmp_path, capsys):
    source = tmp_path / "people.csv"
    source.write_text("first_name,last_name,date_of_birth,email\nJohn,Smith,03/02/1960,s@example.com\n"
                      "John,Smith,02/03/1990,s@example.com\n", encoding="utf-8")
    output = tmp_path / "out.csv"
    assert main(["resolve", "--input", str(source), "--output", str(output)]) == 2
    assert "--date-format" in capsys.readouterr().err
    assert main(["resolve", "--input", str(source), "--output", str(output), "--date-format", "%m/%d/%Y"]) == 0
    with output.open(newline="", encoding="utf-8") as handle:
        assert len({row["customer_id"] for row in csv.DictReader(handle)}) == 2


def test_train_on_records_no_em_pass_can_learn_from_says_why(cdp_env, capsys):
    """No birth dates and no two records alike in name: Splink's EMTrainingException came out as a traceback."""
    settings = Settings.from_env()
    with connect(settings) as con:
        con.execute("CREATE TABLE raw.csv_contacts (contact_id VARCHAR, email VARCHAR, phone VARCHAR, "
                    "first_name VARCHAR, last_name VARCHAR, birth_date DATE, street VARCHAR, city VARCHAR, "
                    "postcode VARCHAR, state VARCHAR, country VARCHAR, _loaded_at TIMESTAMP)")
        con.execute("INSERT INTO raw.csv_contacts (contact_id, email, first_name, last_name) "
                    "SELECT 'c' || i, 'lena' || i || '@example.com', 'Lena', 'Ortiz' || chr(97 + i::INTEGER % 26) "
                    "|| chr(97 + i::INTEGER // 26) FROM range(60) AS t(i)")
    assert main(["identity", "train"]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cdp identity: No matching model could be trained: every EM training pass failed")
    assert "Traceback" not in error
