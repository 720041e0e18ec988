"""Scale benchmark of the nightly pipeline: ``python -m cdp.benchmark --scale N --seed S --out DIR``.

What it does, in one process tree:

1. Generates the sample landing zone for (scale, seed, run date) once and caches it under
   ``<out>/bench/<scale>/cache/``; later runs reuse it. Each run works in its own CDP_HOME,
   ``<out>/bench/<scale>/run/`` (fresh warehouse every time; the demo's ``data/warehouse`` is
   never touched), with a landing zone of hard links to the cache.
2. Runs every nightly stage (``cdp.pipeline`` functions, as ``run_all`` orders them, plus
   ``identity:train`` timed on its own) and records wall time, rows, rows/s and the peak RSS
   of the process tree (this process and its children, sampled from /proc every 0.1 s; a stage's
   peak includes what the process still holds from earlier stages).
3. Measures reference points on the same inputs: DuckDB ``read_json``/``read_csv`` of the raw
   files (per source; none for the SQLite store), plain Splink (same comparisons, trained the
   same way, predict + cluster timed) on ``identity.person_records_standardised`` exported to
   parquet, and ``dbt build`` as a CLI subprocess on a copy of the warehouse taken just before
   the marts stage.
4. Scores identity against the ground truth, then adds a "next night" (about 1% new people in
   every source, half of the new web visitors' page/screen/track events written as returning
   visitors of night one, and 0.5% changed store customers and calls, see
   ``dataset.next_night``) and runs the pipeline again for run date + 1.

It prints a table and writes ``<out>/bench/results-<scale>.json`` and ``results-<scale>.png``.
Benchmarks print numbers; nothing here asserts anything about speed.

JSON keys (``results-<scale>.json``):

- ``scale``, ``seed``, ``run_date``, ``next_run_date``, ``cdp_home``
- ``dataset``: ``counts`` (generator counts), ``cached`` (bool), ``generate_seconds``
- ``stages``: list, one per stage of the full night, each with ``stage``, ``status``
  (``succeeded`` or ``failed: ...`` for a gate that refused the data), ``seconds``, ``rows``,
  ``rows_per_second``, ``peak_rss_mib``, ``reference`` (name or null), ``reference_seconds``,
  ``reference_rows``, ``ratio`` (our speed over the reference's: rows/s over rows/s for
  ingestion, reference seconds over our seconds otherwise; > 1 means we are faster), and
  ``detail_seconds`` (the stage's own breakdown, when it reports one)
- ``full_night_seconds``
- ``full_night_peak_rss_mib``: the highest stage peak of the full night (the pipeline's own peak)
- ``peak_rss_mib`` (whole benchmark, references included): ``process_tree_sampled_mib``, ``ru_maxrss_self_mib``, ``ru_maxrss_children_mib``
- ``references``: by stage name (``ingest:web``, ``ingest:call_center``, ``ingest:csv``,
  ``identity``, ``marts``): ``reference``, ``rows``, ``seconds``, ``peak_rss_mib`` (the ingestion
  references' seconds include their closing ``CHECKPOINT``, as ours include our commits; ``ingest:web``
  adds ``checkpoint_seconds``, that part); ``identity``
  adds ``train_seconds``, ``pairwise_f1``, ``pairwise_precision``, ``pairwise_recall``,
  ``clusters``, ``predicted_pairs_above_threshold``, ``em_passes``
- ``identity_accuracy``: ``identity.evaluate.evaluate`` of the full night (``pairwise_f1``, ``bcubed_f1``, ...,
  ``missed_pairs_by_shared_evidence``: the missed true pairs by the strongest evidence their two customers share)
- ``next_night``: ``seconds``, ``peak_rss_mib``, ``share_of_full_night``, ``stages`` (as above), ``added``
  (``new_web_files``, ``new_csv_files``, ``returning_web_visitors``, ``returning_web_messages``,
  ``new_calls``, ``new_store_customers``, ``changed_calls``, ``changed_store_customers``), ``changed_records``, ``unchanged_customers``,
  ``unchanged_customers_kept_id``, ``share_unchanged_kept_id``
- ``dbt_node_seconds``: ``full_night`` and ``next_night``, each the seconds of every node of that
  night's ``dbt build`` (unique id -> seconds, slowest first, from its run_results.json); a next-night
  node whose time is near its full-night time does work that scales with all the data
- ``chart_png``: path of the bar chart of full-night stage times
"""

from __future__ import annotations

from datetime import date

#: Fixed by default so the dataset cache (keyed by scale, seed and run date) survives across days.
DEFAULT_RUN_DATE = date(2026, 11, 1)

RESULT_KEYS = ("scale", "seed", "run_date", "next_run_date", "cdp_home", "dataset", "stages", "full_night_seconds",
               "full_night_peak_rss_mib", "peak_rss_mib", "references", "identity_accuracy", "next_night",
               "dbt_node_seconds", "chart_png")
STAGE_KEYS = ("stage", "status", "seconds", "rows", "rows_per_second", "peak_rss_mib", "reference",
              "reference_seconds", "reference_rows", "ratio", "detail_seconds")
NEXT_NIGHT_KEYS = ("seconds", "share_of_full_night", "stages", "added", "changed_records", "unchanged_customers",
                   "unchanged_customers_kept_id", "share_unchanged_kept_id")
