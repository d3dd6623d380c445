"""Write an import into the workspace's DuckDB: one transaction, identical rows left alone.

The files were staged on the workspace's own connection (temp tables), so the scratch *is*
the target: validation reads the stored tables directly and nothing needs mirroring.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb

from missionline.data.database import LOADS_TABLE, Database
from missionline.data.schema import Table
from missionline.data.sql import ident, idents, lit
from missionline.data.write_target import Runner, StagedTable, TableLoad


class DuckDBWriter:
    """Applies staged rows to the workspace's DuckDB in one transaction."""

    def __init__(self, db: Database) -> None:
        self.scratch: duckdb.DuckDBPyConnection = db.backend.con

    def mirror(self, columns: Mapping[str, list[str]]) -> None:
        """Nothing to do: the stored tables are on the scratch connection already."""

    def close(self) -> None:
        """Nothing to release: the importer drops its temp tables."""

    def write(
        self, runner: Runner, staged: list[StagedTable], replace: bool, sources: str
    ) -> list[TableLoad]:
        """Apply every staged table in one transaction; identical rows are not rewritten.

        Into an empty table (or with ``replace``) rows go in directly.
        """
        loads = []
        con = self.scratch
        con.execute("BEGIN TRANSACTION")
        try:
            for item in staged:
                name, rows = item.table.name, item.rows
                target, cols = ident(name), idents(item.table.names())
                empty = not runner.scalar(f"SELECT COUNT(*) FROM (SELECT 1 FROM {target} LIMIT 1)")
                if replace or empty:
                    if replace:
                        runner.run(f"DELETE FROM {target}", f"replacing {name}")
                    runner.run(
                        f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {item.relation}",
                        f"writing {name}",
                    )
                    inserted, updated = rows, 0
                else:
                    inserted, updated = _merge(runner, item.table, item.relation)
                unchanged = rows - inserted - updated
                loads.append(TableLoad(name, rows, inserted, updated, unchanged))
                con.execute(
                    f"INSERT INTO {ident(LOADS_TABLE)} VALUES ({lit(name)}, {lit(sources)}, "
                    f"{inserted}, {updated}, {unchanged}, now()::TIMESTAMP)"
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        finally:
            con.execute("DROP TABLE IF EXISTS load_diff")
        return loads


def _merge(runner: Runner, table: Table, staged: str) -> tuple[int, int]:
    """Upsert by key the staged rows that differ from the stored ones; return (new, updated)."""
    target, cols = ident(table.name), idents(table.names())
    runner.run(
        f"CREATE OR REPLACE TEMP TABLE load_diff AS SELECT {cols} FROM {staged} "
        f"EXCEPT SELECT {cols} FROM {target}",
        f"comparing {table.name}",
    )
    join = " AND ".join(f"t.{ident(k)} IS NOT DISTINCT FROM d.{ident(k)}" for k in table.key)
    updated = runner.scalar(
        f"SELECT COUNT(*) FROM load_diff d WHERE EXISTS (SELECT 1 FROM {target} t WHERE {join})"
    )
    if updated:
        runner.run(
            f"DELETE FROM {target} t WHERE EXISTS (SELECT 1 FROM load_diff d WHERE {join})",
            f"updating {table.name}",
        )
    changed = runner.scalar("SELECT COUNT(*) FROM load_diff")
    runner.run(
        f"INSERT INTO {target} ({cols}) SELECT {cols} FROM load_diff", f"writing {table.name}"
    )
    return changed - updated, updated
