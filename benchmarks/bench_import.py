"""Import benchmark: a large CSV through missionline vs DuckDB's bare ``read_csv`` into a table.

Target (issue #3): missionline's validated, atomic import within 2x of the bare load.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import duckdb

from benchmarks.common import best_of, data_dir, peak_rss_mb
from benchmarks.prepare import ensure
from missionline.data.sql import lit
from missionline.workspace import Workspace


def run(leads: int, seed: int, repeats: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Time both loads of the company's stage_events.csv into empty databases."""
    files = ensure("files", leads, seed, "csv")
    csv = files / "stage_events.csv"
    scratch = data_dir() / "import-scratch"

    def bare() -> int:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
        con = duckdb.connect(str(scratch / "bare.duckdb"))
        con.execute(f"CREATE TABLE stage_events AS SELECT * FROM read_csv({lit(str(csv))})")
        (rows,) = con.execute("SELECT count(*) FROM stage_events").fetchone()  # type: ignore[misc]
        con.close()
        return int(rows)

    def missionline() -> int:
        shutil.rmtree(scratch, ignore_errors=True)
        with Workspace.init(scratch / "ws", "demo") as ws:
            (load,) = ws.import_files([csv]).tables
            return load.inserted

    bare_s, rows = best_of(repeats, bare)
    log(f"bare read_csv: {rows:,} rows in {bare_s:.1f} s")
    mine_s, inserted = best_of(repeats, missionline)
    log(f"missionline import: {inserted:,} rows in {mine_s:.1f} s")
    shutil.rmtree(scratch, ignore_errors=True)
    assert rows == inserted
    return {
        "rows": rows,
        "csv_mb": csv.stat().st_size / 2**20,
        "duckdb_read_csv_s": bare_s,
        "missionline_import_s": mine_s,
        "ratio": mine_s / bare_s,
        "peak_rss_mb": peak_rss_mb(),
        "targets_met": mine_s / bare_s <= 2.0,
    }
