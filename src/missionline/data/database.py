"""The workspace database: an Ibis connection plus the canonical tables and their metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from missionline.data.schema import SCHEMA_VERSION, Table
from missionline.data.sql import ident, lit
from missionline.errors import WorkspaceError

META_TABLE = "missionline_meta"
LOADS_TABLE = "missionline_loads"
MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def default_url(folder: Path) -> str:
    """Return the URL of the embedded DuckDB file of a workspace folder."""
    return f"duckdb://{(folder / 'missionline.duckdb').resolve()}"


class Database:
    """A connection to the workspace's database through Ibis."""

    def __init__(self, url: str, read_only: bool = False, memory_limit: str | None = None) -> None:
        self.url = url
        try:
            kwargs = {"read_only": True} if read_only else {}
            self.backend: BaseBackend = ibis.connect(url, **kwargs)
        except Exception as exc:  # the driver's own message says what is wrong with the URL
            raise WorkspaceError(f"cannot open the database {url!r}: {exc}") from None
        if self.is_duckdb:
            # All timestamps are UTC; DuckDB would otherwise use the machine's zone for TIMESTAMPTZ.
            self.raw_sql("SET TimeZone = 'UTC'")
            if memory_limit:
                self.limit_memory(memory_limit)

    def limit_memory(self, limit: str) -> None:
        """Cap DuckDB's memory (e.g. ``1.5GB``); larger work spills to disk instead."""
        if not MEMORY_LIMIT.fullmatch(limit.strip()):
            raise WorkspaceError(
                f"invalid memory limit {limit!r}; write a size such as 1.5GB, 800MB or 8GiB"
            )
        self.raw_sql(f"SET memory_limit = {lit(limit.strip())}")

    @property
    def name(self) -> str:
        """The Ibis backend name (duckdb, postgres, pyspark, ...)."""
        return str(self.backend.name)

    @property
    def is_duckdb(self) -> bool:
        """Whether this is the embedded DuckDB engine."""
        return self.name == "duckdb"

    def raw_sql(self, sql: str, params: list[Any] | None = None) -> Any:
        """Run a statement built from quoted parts (see :mod:`missionline.data.sql`)."""
        if self.is_duckdb:
            return self.backend.con.execute(sql, params or [])
        return self.backend.raw_sql(sql)

    def tables(self) -> list[str]:
        """Return the names of the tables in the database."""
        return list(self.backend.list_tables())

    def table(self, name: str) -> ir.Table:
        """Return an Ibis table expression for ``name``."""
        return self.backend.table(name)

    def close(self) -> None:
        """Close the connection."""
        self.backend.disconnect()

    def ensure_schema(self, tables: Mapping[str, Table]) -> None:
        """Create missing canonical tables and declared columns; check the schema version."""
        existing = set(self.tables())
        if META_TABLE in existing:
            self.check_version()
        else:
            meta = ibis.memtable({"key": ["schema_version"], "value": [str(SCHEMA_VERSION)]})
            self.backend.create_table(META_TABLE, meta)
        if LOADS_TABLE not in existing:
            self.backend.create_table(
                LOADS_TABLE,
                schema=ibis.schema(
                    {
                        "table_name": "string",
                        "source": "string",
                        "inserted": "int64",
                        "updated": "int64",
                        "unchanged": "int64",
                        "loaded_at": "timestamp",
                    }
                ),
            )
        for table in tables.values():
            if table.name not in existing:
                self.backend.create_table(table.name, schema=ibis.schema(table.ibis_schema()))
                continue
            present = set(self.table(table.name).columns)
            for column in table.all_columns:
                if column.name not in present:
                    schema = ibis.schema({column.name: table.ibis_schema()[column.name]})
                    definition = schema.to_sqlglot_column_defs(self.name)[0].sql(self.name)
                    self.raw_sql(f"ALTER TABLE {ident(table.name)} ADD COLUMN {definition}")

    def check_version(self) -> None:
        """Fail clearly when the database was written by a newer missionline."""
        meta = self.table(META_TABLE).to_pandas()
        stored = meta.loc[meta["key"] == "schema_version", "value"]
        version = int(stored.iloc[0]) if len(stored) else 0
        if version > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the database {self.url} has schema version {version}, newer than this "
                f"missionline understands ({SCHEMA_VERSION}); upgrade missionline to open it"
            )
