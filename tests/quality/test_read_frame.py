"""Gate frames are read through Arrow but must be exactly the frames DuckDB's .df() gives."""

from __future__ import annotations

import duckdb
import pandas as pd

from quality.gate import read_frame

# Every type a gate query returns, each with and without NULLs.
QUERY = """
SELECT * FROM (VALUES
    (1::INTEGER, NULL::INTEGER, 1::BIGINT, 7::UTINYINT, TRUE, NULL::BOOLEAN, DATE '2026-11-23',
     TIMESTAMP '2026-11-23 10:00', TIMESTAMPTZ '2026-11-23 10:00+00', 1.5::DECIMAL(10, 2), 12::HUGEINT,
     'a', NULL::VARCHAR, 1.0::DOUBLE, NULL::DOUBLE, NULL, [1, 2], INTERVAL 1 DAY),
    (2, 3, NULL, NULL, FALSE, TRUE, NULL, NULL, NULL, NULL, NULL, NULL, 'b', 2.0, 1.0, NULL, NULL, NULL)
) AS t(int_value, int_with_null, bigint_with_null, utinyint_with_null, flag, flag_with_null, day, moment,
       moment_tz, amount, huge_sum, text, text_with_null, number, number_with_null, nothing, ids, gap)
"""


def test_arrow_frame_equals_duckdb_df_for_every_type():
    con = duckdb.connect()
    columns = "int_value, int_with_null, bigint_with_null, utinyint_with_null, flag, flag_with_null, day, " \
              "moment, moment_tz, amount, huge_sum, text, text_with_null, number, number_with_null, nothing"
    simple = f"SELECT {columns} FROM ({QUERY}) WHERE int_value >= $low"
    pd.testing.assert_frame_equal(read_frame(con, simple, {"low": 1}), con.execute(simple, {"low": 1}).df())
    # lists and intervals are left to DuckDB's own conversion
    pd.testing.assert_frame_equal(read_frame(con, QUERY, {}), con.execute(QUERY).df())
    assert read_frame(con, simple, {"low": 5}).empty
