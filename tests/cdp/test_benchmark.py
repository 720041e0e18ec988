"""The scale benchmark: its pure pieces, the dataset cache, the next night, and a tiny end-to-end run."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import sqlite3
import struct
import subprocess
import zlib
from datetime import date
from pathlib import Path

import pytest

from cdp.benchmark import NEXT_NIGHT_KEYS, RESULT_KEYS, STAGE_KEYS
from cdp.benchmark.dataset import CACHE_MARKER, cache_key, cached_dataset, materialise_landing, next_night
from cdp.benchmark.memory import PeakMemorySampler, descendants, tree_rss_mib
from cdp.benchmark.report import PNG_SIGNATURE, bar_chart_png, format_table, png_bytes
from cdp.benchmark.run import bench_settings, id_stability, rate, speed_ratio
from cdp.settings import Settings

RUN_DATE = date(2026, 11, 1)


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, decompressed scanlines) of an 8-bit RGB PNG, checking every chunk's CRC."""
    assert data.startswith(PNG_SIGNATURE)
    position, chunks = len(PNG_SIGNATURE), {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind = data[position + 4:position + 8]
        body = data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC on {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    assert b"IEND" in chunks
    return width, height, zlib.decompress(chunks[b"IDAT"])


def test_png_bytes_encodes_the_given_pixels() -> None:
    pixels = [[(255, 0, 0), (0, 255, 0)], [(0, 0, 255), (1, 2, 3)]]
    width, height, raw = read_png(png_bytes(pixels))
    assert (width, height) == (2, 2)
    assert raw == b"\x00" + bytes([255, 0, 0, 0, 255, 0]) + b"\x00" + bytes([0, 0, 255, 1, 2, 3])


def test_png_bytes_refuses_ragged_rows() -> None:
    with pytest.raises(ValueError, match="same width"):
        png_bytes([[(0, 0, 0)], [(0, 0, 0), (0, 0, 0)]])


def test_bar_chart_png_draws_one_bar_per_stage(tmp_path: Path) -> None:
    path = bar_chart_png([("ingest:web", 3.0), ("marts", 12.5), ("report", 0.0)], tmp_path / "chart.png", width=400)
    width, height, raw = read_png(path.read_bytes())
    assert width == 400 and height == 2 * 10 + 3 * 20
    assert len(raw) == height * (1 + 3 * width)
    bar_blue = bytes([66, 120, 190])
    assert bar_blue in raw  # at least one bar was drawn


def test_rate_and_speed_ratio() -> None:
    assert rate(100, 2.0) == 50
    assert rate(None, 2.0) is None and rate(10, 0) is None
    # ingestion: rows/s over rows/s, even when the two read different row counts
    assert speed_ratio(100, 2.0, 90, 1.0) == pytest.approx(50 / 90)
    # other stages: reference seconds over ours
    assert speed_ratio(None, 4.0, None, 1.0) == 0.25
    assert speed_ratio(None, None, None, 1.0) is None


def test_id_stability_counts_only_customers_without_changed_records() -> None:
    before = {"store|1": "A", "web|user:x": "A", "store|2": "B", "call_center|c": "C", "csv|l:1": "D"}
    after = {"store|1": "A", "web|user:x": "A", "store|2": "B2", "call_center|c": "C9", "csv|l:1": "D"}
    result = id_stability(before, after, changed_keys={"call_center|c"})
    # C changed, so it is not judged; of A, B, D only B lost its id.
    assert result == {"unchanged_customers": 3, "unchanged_customers_kept_id": 2,
                      "share_unchanged_kept_id": pytest.approx(2 / 3)}


def test_dbt_node_seconds_reads_the_last_build_slowest_first(tmp_path: Path) -> None:
    from cdp.benchmark.run import _slowest_next_night_nodes_line, dbt_node_seconds

    settings = dataclasses.replace(Settings(home=tmp_path), dbt_target_dir=tmp_path / "target")
    assert dbt_node_seconds(settings) == {}
    settings.dbt_target_dir.mkdir()
    (settings.dbt_target_dir / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": "model.cdp.kpi_daily", "execution_time": 0.1234},
        {"unique_id": "model.cdp.fct_orders", "execution_time": 2.0},
        {"unique_id": "test.cdp.primary_key_fct_orders.abc", "execution_time": None},
    ]}), encoding="utf-8")
    nodes = dbt_node_seconds(settings)
    assert list(nodes.items()) == [("model.cdp.fct_orders", 2.0), ("model.cdp.kpi_daily", 0.123),
                                   ("test.cdp.primary_key_fct_orders.abc", 0.0)]
    line = _slowest_next_night_nodes_line({"full_night": {"model.cdp.fct_orders": 8.0}, "next_night": nodes}, count=2)
    assert line == "slowest dbt nodes (next night): fct_orders 2.00 s (25% of full), kpi_daily 0.12 s"
    assert _slowest_next_night_nodes_line({}) == "slowest dbt nodes (next night): n/a"


def test_format_table_shows_missing_figures_as_dashes() -> None:
    table = format_table([{"stage": "report", "seconds": 0.1, "rows": None, "rows_per_second": None,
                           "peak_rss_mib": 100.0, "reference": None, "reference_seconds": None, "ratio": None}])
    last = table.splitlines()[-1].split()
    assert last[0] == "report" and last[1] == "0.10" and last.count("-") == 5


def test_bench_settings_keep_every_path_under_the_bench_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDP_WAREHOUSE_PATH", "/somewhere/else/cdp.duckdb")
    settings = bench_settings(tmp_path, RUN_DATE)
    home = (tmp_path / "run").resolve()
    for path in (settings.warehouse_path, settings.landing_dir, settings.export_dir, settings.reports_dir,
                 settings.model_dir, settings.truth_path, settings.dbt_target_dir):
        assert home in path.parents, path
    assert settings.store_db_uri == f"sqlite:///{home / 'landing' / 'store' / 'pos.sqlite'}"
    assert settings.run_date == RUN_DATE


def test_dataset_is_generated_once_and_reused(tmp_path: Path) -> None:
    folder, first = cached_dataset(tmp_path, 40, 3, RUN_DATE)
    assert folder.name == cache_key(40, 3, RUN_DATE) == "scale40-seed3-2026-11-01"
    assert first["cached"] is False and first["counts"]["people"] == 40
    marker_written = (folder / CACHE_MARKER).stat().st_mtime_ns
    again, second = cached_dataset(tmp_path, 40, 3, RUN_DATE)
    assert again == folder and second["cached"] is True and second["counts"] == first["counts"]
    assert (folder / CACHE_MARKER).stat().st_mtime_ns == marker_written
    assert not list(tmp_path.glob("*.partial"))


def test_landing_links_the_cache_but_copies_the_store(tmp_path: Path) -> None:
    cached, _ = cached_dataset(tmp_path / "cache", 40, 3, RUN_DATE)
    landing = tmp_path / "landing"
    materialise_landing(cached, landing)
    web_file = next((cached / "web").glob("*.ndjson.gz"))
    assert (landing / "web" / web_file.name).stat().st_ino == web_file.stat().st_ino
    store = landing / "store" / "pos.sqlite"
    assert store.stat().st_ino != (cached / "store" / "pos.sqlite").stat().st_ino
    assert not (landing / CACHE_MARKER).exists()


def test_next_night_adds_new_and_changed_records_for_the_next_date(tmp_path: Path) -> None:
    cached, info = cached_dataset(tmp_path / "cache", 200, 5, RUN_DATE)
    landing = tmp_path / "landing"
    materialise_landing(cached, landing)
    next_date = date(2026, 11, 2)
    visitors = [(f"night-one-anon-{i}", f"night-one-user-{i}" if i % 2 else None) for i in range(40)]
    added = next_night(landing, 200, 5, next_date, share=0.05, returning_visitors=visitors)

    assert added["new_web_files"] == len(list((landing / "web").glob("events-2026-11-02-*.ndjson.gz"))) > 0
    assert (landing / "call_center" / "calls-2026-11-02.csv").exists()
    assert added["new_csv_files"] == len(list((landing / "csv").glob("*__bench-2026-11-02-*.csv"))) > 0
    with sqlite3.connect(landing / "store" / "pos.sqlite") as con:
        customers = con.execute("SELECT count(*) FROM customers").fetchone()[0]
        moved = con.execute("SELECT count(*) FROM customers WHERE updated_at >= '2026-11-02'").fetchone()[0]
        orphan_orders = con.execute("SELECT count(*) FROM orders WHERE customer_id IS NOT NULL "
                                    "AND customer_id NOT IN (SELECT customer_id FROM customers)").fetchone()[0]
    assert customers == info["counts"]["store_customers"] + added["new_store_customers"]
    assert moved == added["new_store_customers"] + added["changed_store_customers"]
    assert orphan_orders == 0
    keys = added["changed_record_keys"]
    assert len(keys) == added["changed_calls"] + added["changed_store_customers"] > 0
    assert all(key.split("|", 1)[0] in ("store", "call_center") for key in keys)
    # Returning visitors: their page/screen/track events carry night one's ids, identifies never do.
    messages = []
    for path in (landing / "web").glob("events-2026-11-02-*.ndjson.gz"):
        for line in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict):
                messages += message["batch"] if isinstance(message.get("batch"), list) else [message]
    returning = [m for m in messages if isinstance(m, dict) and str(m.get("anonymousId")).startswith("night-one-")]
    assert 0 < added["returning_web_visitors"] <= len(visitors)
    assert len(returning) == added["returning_web_messages"] > 0
    assert {m["type"] for m in returning} <= {"page", "screen", "track"}
    users = dict(visitors)
    assert all(m.get("userId") == users[m["anonymousId"]] for m in returning)
    assert len({m["anonymousId"] for m in returning}) == added["returning_web_visitors"]
    # the cache itself is untouched
    assert not list((cached / "web").glob("events-2026-11-02-*"))


def test_memory_sampler_sees_this_process_and_its_children() -> None:
    assert tree_rss_mib() > 0
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
    with PeakMemorySampler(interval=0.01) as sampler:
        sampler.start_window()
        ballast = bytearray(64 * 2**20)  # 64 MiB, touched so it is resident
        ballast[::4096] = b"\x01" * len(ballast[::4096])
        peak = sampler.window_peak()
        del ballast
    assert peak >= 64 and sampler.overall_peak >= peak


@pytest.mark.slow
def test_tiny_benchmark_writes_every_documented_figure(tmp_path: Path) -> None:
    from cdp.benchmark.run import run_benchmark

    results = run_benchmark(300, 11, tmp_path, RUN_DATE)
    path = tmp_path / "bench" / "results-300.json"
    written = json.loads(path.read_text(encoding="utf-8"))
    assert set(RESULT_KEYS) <= set(written)
    assert written["scale"] == 300 and written["next_run_date"] == "2026-11-02"
    for stages in (written["stages"], written["next_night"]["stages"]):
        assert [row["stage"] for row in stages][:4] == ["ingest:web", "ingest:call_center", "ingest:store", "ingest:csv"]
        for row in stages:
            assert set(STAGE_KEYS) <= set(row), row["stage"]
            assert row["seconds"] >= 0 and row["peak_rss_mib"] > 0
    by_stage = {row["stage"]: row for row in written["stages"]}
    for stage in ("ingest:web", "ingest:call_center", "ingest:csv", "identity", "marts"):
        assert by_stage[stage]["reference"] and by_stage[stage]["ratio"] > 0, stage
        assert written["references"][stage]["seconds"] >= 0
    assert by_stage["ingest:store"]["ratio"] is None  # no DuckDB reader for SQLite here
    assert "identity:train" in by_stage and "identity:train" not in {r["stage"] for r in written["next_night"]["stages"]}
    assert 0 <= written["identity_accuracy"]["pairwise_f1"] <= 1
    assert 0 <= written["references"]["identity"]["pairwise_f1"] <= 1
    following = written["next_night"]
    assert set(NEXT_NIGHT_KEYS) <= set(following)
    assert following["seconds"] > 0 and following["share_of_full_night"] > 0
    assert 0 <= following["share_unchanged_kept_id"] <= 1 and following["unchanged_customers"] > 0
    assert written["peak_rss_mib"]["process_tree_sampled_mib"] > 0
    # every node of each night's dbt build, slowest first (the next night's build overwrites run_results.json)
    for night in ("full_night", "next_night"):
        nodes = written["dbt_node_seconds"][night]
        assert "model.cdp.dim_customers" in nodes and "model.cdp.fct_web_events" in nodes, night
        assert list(nodes.values()) == sorted(nodes.values(), reverse=True)
    assert any(node.startswith("unit_test.") for node in written["dbt_node_seconds"]["full_night"])
    assert not any(node.startswith("unit_test.") for node in written["dbt_node_seconds"]["next_night"])
    width, height, _ = read_png(Path(written["chart_png"]).read_bytes())
    assert width > 0 and height > 0
    assert results["results_json"] == str(path)
    # the demo warehouse was never used
    assert Path(written["cdp_home"]).is_relative_to(tmp_path)
