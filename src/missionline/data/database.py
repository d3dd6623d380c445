"""The workspace database: an Ibis connection plus the canonical tables and their metadata."""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from ibis.backends import BaseBackend

from missionline.data.schema import SCHEMA_VERSION, Table
from missionline.data.sql import ident, lit
from missionline.errors import WorkspaceError

if TYPE_CHECKING:  # pyspark is an optional extra
    from missionline.data.write_spark import SparkStore

Percentiles = Literal["exact", "approximate"]
PERCENTILES: tuple[str, ...] = ("exact", "approximate")
# Engines with an approximate percentile; elsewhere the exact one is used whatever the setting.
APPROXIMATE_ENGINES = ("duckdb", "pyspark")
SQL_DIALECTS = {"duckdb": "duckdb", "postgres": "postgres", "pyspark": "spark"}
META_TABLE = "missionline_meta"
LOADS_TABLE = "missionline_loads"
MEMORY_LIMIT = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)


def default_url(folder: Path) -> str:
    """Return the URL of the embedded DuckDB file of a workspace folder."""
    return f"duckdb://{(folder / 'missionline.duckdb').resolve()}"


def is_spark_url(url: str) -> bool:
    """Whether ``url`` names Spark: ``pyspark`` (a local session) or ``sc://host:port``."""
    return url == "pyspark" or url.startswith(("pyspark://", "sc://"))


def resolve_percentiles(engine: str, requested: str | None) -> Percentiles:
    """The kind of percentile ``engine`` computes when the workspace asks for ``requested``.

    Exact by default, but on Spark, where exact percentiles over large tables cost several
    times the time and memory of approximate ones. PostgreSQL has no approximate percentile.
    """
    if requested is None:
        return "approximate" if engine == "pyspark" else "exact"
    if requested not in PERCENTILES:
        raise WorkspaceError(
            f'invalid percentiles setting {requested!r}; use "exact" or "approximate"'
        )
    if engine not in APPROXIMATE_ENGINES:
        return "exact"
    return cast(Percentiles, requested)


# id(backend) -> its setting, kept while the backend lives. Not keyed by the backend itself:
# Ibis backends compare equal when they reach the same database, and two connections to one
# database may be set up differently.
_PERCENTILES: dict[int, Percentiles] = {}


def set_percentiles(backend: BaseBackend, mode: Percentiles) -> None:
    """Record the kind of percentile the metrics compute over ``backend``'s tables."""
    if id(backend) not in _PERCENTILES:
        weakref.finalize(backend, _PERCENTILES.pop, id(backend), None)
    _PERCENTILES[id(backend)] = mode


def percentiles_for(backend: BaseBackend) -> Percentiles:
    """The kind of percentile the metrics compute over ``backend``'s tables."""
    return _PERCENTILES.get(id(backend)) or resolve_percentiles(str(backend.name), None)


class Database:
    """A connection to the workspace's database through Ibis.

    ``folder`` is the workspace folder (a local Spark session keeps its tables under it);
    ``percentiles`` the workspace's choice of exact or approximate percentiles (see
    :mod:`missionline.metrics.portable`), recorded for the metrics run over this connection.
    """

    def __init__(
        self,
        url: str,
        read_only: bool = False,
        memory_limit: str | None = None,
        folder: Path | None = None,
        percentiles: str | None = None,
    ) -> None:
        self.url = url
        self.store: SparkStore | None = None
        if is_spark_url(url):
            try:
                from missionline.data.write_spark import connect_spark  # an optional extra
            except ImportError as exc:
                raise WorkspaceError(
                    f"{url!r} needs Spark support: pip install 'missionline[spark]' ({exc})"
                ) from None
            self.backend, self.store = connect_spark(url, folder, memory_limit)
        else:
            try:
                kwargs = {"read_only": True} if read_only else {}
                self.backend = ibis.connect(url, **kwargs)
            except Exception as exc:  # the driver's own message says what is wrong with the URL
                raise WorkspaceError(f"cannot open the database {url!r}: {exc}") from None
        self.percentiles = resolve_percentiles(self.name, percentiles)
        set_percentiles(self.backend, self.percentiles)
        if self.is_duckdb:
            # All timestamps are UTC; DuckDB would otherwise use the machine's zone for TIMESTAMPTZ.
            self.raw_sql("SET TimeZone = 'UTC'")
            # DuckDB would print its own progress bar into standard output (JSON results).
            self.raw_sql("SET enable_progress_bar_print = false")
            if memory_limit:
                self.limit_memory(memory_limit)
        elif self.name == "postgres":
            # The planner overestimates the metrics' inequality joins and JIT-compiles them:
            # compiling took half the time of velocity and leakage over 500,000 stage events.
            self.backend.raw_sql("SET jit = off").close()

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
    def dialect(self) -> str:
        """The sqlglot dialect of the engine's SQL."""
        return SQL_DIALECTS.get(self.name, self.name)

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
        if self.store is not None:
            return self.store.names()
        return list(self.backend.list_tables())

    def table(self, name: str) -> ir.Table:
        """Return an Ibis table expression for ``name``."""
        return self.backend.table(name)

    def close(self) -> None:
        """Close the connection (a Spark session is left running for the rest of the process:
        starting one takes most of a minute, and other workspaces may share it)."""
        if self.store is None:
            self.backend.disconnect()

    def create_table(
        self, name: str, schema: ibis.Schema, rows: Mapping[str, list[Any]] | None = None
    ) -> None:
        """Create a table with ``schema`` (and ``rows``, column by column)."""
        if self.store is not None:
            self.store.create(name, schema, rows)
        elif rows is not None:
            self.backend.create_table(name, ibis.memtable(dict(rows), schema=schema))
        else:
            self.backend.create_table(name, schema=schema)

    def append(self, table: str, rows: pd.DataFrame) -> None:
        """Add ``rows`` (the table's columns, in order) to ``table`` in one write."""
        if self.store is not None:
            self.store.append(table, rows)
        else:
            self.backend.insert(table, rows)

    def export(self, table: ir.Table, path: Path, fmt: str) -> None:
        """Write ``table`` to one Parquet or CSV file at ``path``."""
        if self.store is not None:
            # Spark's own writers make a folder of part files; the export is one file.
            data = table.to_pyarrow()
            if fmt == "parquet":
                pq.write_table(data, path)
            else:
                pa_csv.write_csv(data, path)
        elif fmt == "parquet":
            self.backend.to_parquet(table, path)
        else:
            self.backend.to_csv(table, path)

    def add_column(self, table: str, name: str, schema: ibis.Schema) -> None:
        """Add column ``name`` (its type in ``schema``) to ``table``; stored rows get nulls."""
        if self.store is not None:
            self.store.add_column(table, name, schema)
            return
        definition = schema.to_sqlglot_column_defs(self.dialect)[0].sql(self.dialect)
        self.raw_sql(f"ALTER TABLE {ident(table, self.dialect)} ADD COLUMN {definition}")

    def ensure_schema(self, tables: Mapping[str, Table]) -> None:
        """Create missing canonical tables and declared columns; check the schema version."""
        existing = set(self.tables())
        if META_TABLE in existing:
            self.check_version()
        else:
            rows = {"key": ["schema_version"], "value": [str(SCHEMA_VERSION)]}
            self.create_table(META_TABLE, ibis.schema({"key": "string", "value": "string"}), rows)
        if LOADS_TABLE not in existing:
            self.create_table(
                LOADS_TABLE,
                ibis.schema(
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
                self.create_table(table.name, ibis.schema(table.ibis_schema()))
                continue
            present = set(self.table(table.name).columns)
            for column in table.all_columns:
                if column.name not in present:
                    schema = ibis.schema({column.name: table.ibis_schema()[column.name]})
                    self.add_column(table.name, column.name, schema)

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
