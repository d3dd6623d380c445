"""Write an import into PostgreSQL: COPY into temp tables, then merge, all in one transaction.

The staged rows leave the scratch DuckDB as Arrow batches, written as CSV into
``COPY ... FROM STDIN`` (PostgreSQL parses CSV in C: far faster than INSERTs or creating a
table from Arrow through Ibis). The merge is the DuckDB writer's, in PostgreSQL's SQL:
changed rows are the staged rows ``EXCEPT`` the stored ones (set operations treat nulls as
equal), deleted by key and inserted with the new ones. A load is one transaction: killed or
failing anywhere, PostgreSQL rolls all of it back. Written tables are analysed before the
commit, so the planner knows their new sizes at once (without statistics PostgreSQL chose
nested-loop joins that made leakage several times slower).
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import pyarrow.csv as pacsv

from missionline.data.database import LOADS_TABLE, Database
from missionline.data.sql import ident, idents
from missionline.data.write_target import (
    Runner,
    StagedTable,
    TableLoad,
    mirror_through_ibis,
    scratch_duckdb,
)

DIALECT = "postgres"
BATCH_ROWS = 100_000
STAGED = "missionline_staged"
DIFF = "missionline_diff"


def _id(name: str) -> str:
    return ident(name, DIALECT)


class PostgresWriter:
    """Applies staged rows to a PostgreSQL database in one transaction."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.scratch = scratch_duckdb()

    def mirror(self, columns: Mapping[str, list[str]]) -> None:
        """Fetch the stored columns validation reads into the scratch."""
        mirror_through_ibis(self.db, self.scratch, columns)

    def close(self) -> None:
        """Close the scratch DuckDB."""
        self.scratch.close()

    def write(
        self, runner: Runner, staged: list[StagedTable], replace: bool, sources: str
    ) -> list[TableLoad]:
        """Copy and merge every staged table, then record the loads, in one transaction."""
        con = self.db.backend.con  # Ibis's psycopg connection
        loads = []
        with con.transaction(), con.cursor() as cur:
            for item in staged:
                loads.append(self._table(runner, cur, item, replace))
                load = loads[-1]
                cur.execute(
                    f"INSERT INTO {_id(LOADS_TABLE)} VALUES "
                    "(%s, %s, %s, %s, %s, now() AT TIME ZONE 'UTC')",
                    (load.table, sources, load.inserted, load.updated, load.unchanged),
                )
            for item in staged:
                runner.report(f"analysing {item.table.name}", None)
                cur.execute(f"ANALYZE {_id(item.table.name)}")
        return loads

    def _table(self, runner: Runner, cur: Any, item: StagedTable, replace: bool) -> TableLoad:
        """Copy one table's staged rows into a temp table and merge them into the target."""
        name, rows = item.table.name, item.rows
        target, cols = _id(name), idents(item.table.names(), DIALECT)
        cur.execute(
            f"CREATE TEMP TABLE {_id(STAGED)} ON COMMIT DROP AS "
            f"SELECT {cols} FROM {target} WITH NO DATA"
        )
        self._copy(runner, cur, item)
        cur.execute(f"SELECT 1 FROM {target} LIMIT 1")
        if replace or cur.fetchone() is None:
            if replace:
                runner.report(f"replacing {name}", None)
                cur.execute(f"DELETE FROM {target}")
            cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {_id(STAGED)}")
            inserted, updated = rows, 0
        else:
            runner.report(f"comparing {name}", None)
            cur.execute(
                f"CREATE TEMP TABLE {_id(DIFF)} ON COMMIT DROP AS SELECT {cols} "
                f"FROM {_id(STAGED)} EXCEPT SELECT {cols} FROM {target}"
            )
            join = " AND ".join(
                f"t.{_id(k)} IS NOT DISTINCT FROM d.{_id(k)}" for k in item.table.key
            )
            cur.execute(
                f"SELECT COUNT(*) FROM {_id(DIFF)} d "
                f"WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
            )
            updated = int(cur.fetchone()[0])
            if updated:
                runner.report(f"updating {name}", None)
                cur.execute(f"DELETE FROM {target} t USING {_id(DIFF)} d WHERE {join}")
            cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {_id(DIFF)}")
            inserted = cur.rowcount - updated
            cur.execute(f"DROP TABLE {_id(DIFF)}")
        cur.execute(f"DROP TABLE {_id(STAGED)}")
        return TableLoad(name, rows, inserted, updated, rows - inserted - updated)

    def _copy(self, runner: Runner, cur: Any, item: StagedTable) -> None:
        """Stream the staged rows from the scratch into the temp table as CSV."""
        name = item.table.name
        cols = idents(item.table.names(), DIALECT)
        result = self.scratch.execute(f"SELECT {idents(item.table.names())} FROM {item.relation}")
        reader = result.to_arrow_reader(BATCH_ROWS)
        options = pacsv.WriteOptions(include_header=False)
        copied = 0
        runner.report(f"writing {name}", 0.0)
        with cur.copy(f"COPY {_id(STAGED)} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            for batch in reader:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, options)  # nulls unquoted, "" quoted: distinct
                copy.write(buffer.getvalue())
                copied += batch.num_rows
                runner.report(f"writing {name}", copied / item.rows if item.rows else 1.0)
