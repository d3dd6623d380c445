"""Spark: local and Spark Connect sessions, where a workspace's tables live, and imports.

Two ways to reach Spark:

* ``pyspark``: a local session in this process (needs Java 17). The workspace's tables are
  Parquet folders under ``DIR/spark-warehouse`` (or the folder named by
  ``pyspark:///absolute/path``): one folder per version of each table, and ``_current.json``
  naming the current version of each. Opening registers each current version as a temporary
  view under the table's name, in a Spark session of its own (workspaces opened in one process
  share its Spark, which starts once: it takes most of a minute).
* ``sc://host:port``: Spark Connect. The tables are the cluster's catalog tables in the
  session's current database.

Imports (:class:`SparkWriter`) are staged and validated in DuckDB as for every engine. Each
imported table's new contents are written in full as a new version (the stored rows whose key
did not change, plus the new and changed rows), then all of them are swapped in together.
Spark without Delta has no transactions, so what a load guarantees differs:

* local: every new version is written first, then ``_current.json`` is replaced by one rename
  (atomic on POSIX file systems). A load that fails or is killed at any moment leaves either
  all the previous tables or all the new ones, never a mix. Superseded versions are removed
  after the swap (versions left by a killed load, when the table is next written).
* Spark Connect: the new versions are written as ``<table>__missionline_new`` tables, then
  renamed in place of the old tables one after the other. A failure while writing changes
  nothing; a failure during the renames (a few catalog calls) can leave that load's tables
  partly swapped (the next open puts back a table caught between its two renames). Importing
  the same files again completes the load: imports are idempotent.
"""

from __future__ import annotations

import datetime as dt
import json
import operator
import os
import re
import shutil
import tempfile
import time
from collections.abc import Mapping
from functools import reduce
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow.parquet as pq
from ibis.backends import BaseBackend
from ibis.backends.pyspark.datatypes import PySparkSchema, PySparkType
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from missionline.data.database import LOADS_TABLE, Database
from missionline.data.sql import ident, idents, lit
from missionline.data.write_target import (
    Runner,
    StagedTable,
    TableLoad,
    mirror_through_ibis,
    scratch_duckdb,
)
from missionline.errors import WorkspaceError

WAREHOUSE = "spark-warehouse"
MANIFEST = "_current.json"
NEW, OLD = "__missionline_new", "__missionline_old"
# A local session for one machine: no web UI or console progress bars (the CLI draws its own),
# bound to the loopback interface, few shuffle partitions (Spark's 200 suit a cluster).
LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.session.timeZone": "UTC",
}
UNITS = {"k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def _spark_memory(limit: str) -> str:
    """A memory size such as ``1.5GB`` or ``8GiB`` as Spark writes it (``1536m``)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt])i?b\s*", limit, re.IGNORECASE)
    if match is None:
        raise WorkspaceError(f"invalid memory limit {limit!r}; write a size such as 8GB")
    return f"{max(1, round(float(match[1]) * UNITS[match[2].lower()]))}m"


def local_session(memory_limit: str | None = None) -> SparkSession:
    """The process's local Spark session (started on first use; the memory limit, if given,
    sizes the driver when it starts)."""
    builder = SparkSession.builder.master("local[*]").appName("missionline")
    for key, value in LOCAL_CONF.items():
        builder = builder.config(key, value)
    # The workspace's tables live in its own folders; Spark's catalog would otherwise create
    # an empty spark-warehouse/ in whatever folder the command was run from.
    scratch = Path(tempfile.gettempdir()) / "missionline-spark-catalog"
    builder = builder.config("spark.sql.warehouse.dir", str(scratch))
    if memory_limit:
        builder = builder.config("spark.driver.memory", _spark_memory(memory_limit))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def connect_spark(
    url: str, folder: Path | None, memory_limit: str | None
) -> tuple[BaseBackend, SparkStore]:
    """The Ibis backend and the table store for a ``pyspark`` or ``sc://`` URL."""
    try:
        if url.startswith("sc://"):
            session = SparkSession.builder.remote(url).getOrCreate()
            store: SparkStore = CatalogStore(session)
        else:
            path = url.removeprefix("pyspark://")
            if path not in ("", "pyspark"):
                root = Path(path)
            elif folder is not None:
                root = folder.resolve() / WAREHOUSE
            else:
                raise WorkspaceError(
                    "a local Spark database needs a folder for its tables: open it from a "
                    "workspace, or write pyspark:///absolute/path/to/warehouse"
                )
            store = FolderStore(local_session(memory_limit).newSession(), root)
    except WorkspaceError:
        raise
    except Exception as exc:  # Spark's own message says what failed (often: no Java)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WorkspaceError(
            f"cannot open the Spark database {url!r}: {first} (a local session needs Java 17)"
        ) from None
    return ibis.pyspark.connect(store.session), store


class SparkStore:
    """Where a workspace's tables live on Spark: their current versions and how to swap them."""

    local = False  # whether the session reads this machine's files

    def __init__(self, session: SparkSession) -> None:
        self.session = session

    def names(self) -> list[str]:
        """The workspace's table names."""
        raise NotImplementedError

    def write(self, name: str, frame: DataFrame) -> str:
        """Write ``frame`` as a new version of table ``name``, not yet visible; return it."""
        raise NotImplementedError

    def publish(self, versions: Mapping[str, str]) -> None:
        """Make the given versions the current ones."""
        raise NotImplementedError

    def create(
        self, name: str, schema: ibis.Schema, rows: Mapping[str, list[Any]] | None = None
    ) -> None:
        """Create table ``name`` with ``schema`` (and ``rows``, column by column)."""
        data = list(zip(*rows.values(), strict=True)) if rows else []
        frame = self.session.createDataFrame(data, PySparkSchema.from_ibis(schema))
        self.publish({name: self.write(name, frame)})

    def append(self, name: str, rows: pd.DataFrame) -> None:
        """Write table ``name`` with ``rows`` added as its new current version."""
        stored = self.session.table(name)
        added = self.session.createDataFrame(rows, schema=stored.schema)
        self.publish({name: self.write(name, stored.unionByName(added))})

    def add_column(self, table: str, name: str, schema: ibis.Schema) -> None:
        """Add a column of nulls (its type in ``schema``) to ``table``."""
        spark_type = PySparkType.from_ibis(schema[name])
        frame = self.session.table(table).withColumn(name, F.lit(None).cast(spark_type))
        self.publish({table: self.write(table, frame)})


class FolderStore(SparkStore):
    """Versions of each table in Parquet folders under ``root``; ``_current.json`` points."""

    local = True

    def __init__(self, session: SparkSession, root: Path) -> None:
        super().__init__(session)
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        manifest = root / MANIFEST
        self.current: dict[str, str] = (
            json.loads(manifest.read_text(encoding="utf-8")) if manifest.is_file() else {}
        )
        for name, version in self.current.items():
            self._register(name, version)

    def names(self) -> list[str]:
        """The tables the manifest names."""
        return sorted(self.current)

    def _register(self, name: str, version: str) -> None:
        """Make ``version`` readable as table ``name`` in this session."""
        path = str(self.root / name / version)
        self.session.read.parquet(path).createOrReplaceTempView(name)

    def write(self, name: str, frame: DataFrame) -> str:
        """Write a new version folder of ``name``."""
        version = f"v{time.time_ns()}"
        frame.write.parquet(str(self.root / name / version))
        return version

    def publish(self, versions: Mapping[str, str]) -> None:
        """Replace the manifest in one rename, then drop the superseded versions."""
        current = {**self.current, **versions}
        staging = self.root / f"{MANIFEST}.tmp"
        with staging.open("w", encoding="utf-8") as out:
            json.dump(current, out, indent=2, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(staging, self.root / MANIFEST)
        self.current = current
        for name, version in versions.items():
            self._register(name, version)
            for old in (self.root / name).iterdir():
                if old.name != version:
                    shutil.rmtree(old, ignore_errors=True)


class CatalogStore(SparkStore):
    """The tables of the session's current catalog database (Spark Connect)."""

    def __init__(self, session: SparkSession) -> None:
        super().__init__(session)
        tables = self._all()
        for name in sorted(tables):
            base = name.removesuffix(OLD)
            if name.endswith(OLD) and base not in tables:  # caught between its two renames
                self._sql(f"ALTER TABLE {ident(name, 'spark')} RENAME TO {ident(base, 'spark')}")
            elif name.endswith((NEW, OLD)):
                self._sql(f"DROP TABLE IF EXISTS {ident(name, 'spark')}")

    def _sql(self, sql: str) -> None:
        self.session.sql(sql).collect()

    def _all(self) -> set[str]:
        return {t.name for t in self.session.catalog.listTables() if not t.isTemporary}

    def names(self) -> list[str]:
        """The catalog's tables, without versions being written or swapped."""
        return sorted(n for n in self._all() if not n.endswith((NEW, OLD)))

    def write(self, name: str, frame: DataFrame) -> str:
        """Write the new version as table ``<name>__missionline_new``."""
        self._sql(f"DROP TABLE IF EXISTS {ident(name + NEW, 'spark')}")
        frame.write.saveAsTable(name + NEW, format="parquet")
        return name + NEW

    def publish(self, versions: Mapping[str, str]) -> None:
        """Rename each new version in place of its table, then drop the old ones."""
        existing = self._all()
        for name, version in versions.items():
            if name in existing:
                self._sql(
                    f"ALTER TABLE {ident(name, 'spark')} RENAME TO {ident(name + OLD, 'spark')}"
                )
            self._sql(f"ALTER TABLE {ident(version, 'spark')} RENAME TO {ident(name, 'spark')}")
        for name in versions:
            self._sql(f"DROP TABLE IF EXISTS {ident(name + OLD, 'spark')}")


class SparkWriter:
    """Writes each imported table's new version, then swaps them all in."""

    def __init__(self, db: Database) -> None:
        assert db.store is not None, "a Spark database has a table store"
        self.db, self.store = db, db.store
        self.scratch = scratch_duckdb()
        self.folder = Path(tempfile.mkdtemp(prefix="missionline-spark-"))

    def mirror(self, columns: Mapping[str, list[str]]) -> None:
        """Fetch the stored columns validation reads into the scratch."""
        mirror_through_ibis(self.db, self.scratch, columns)

    def close(self) -> None:
        """Close the scratch and remove the staged files."""
        self.scratch.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def write(
        self, runner: Runner, staged: list[StagedTable], replace: bool, sources: str
    ) -> list[TableLoad]:
        """Write every new version (and the load log's), then publish them together."""
        session = self.store.session
        versions: dict[str, str] = {}
        loads = []
        for item in staged:
            name = item.table.name
            runner.report(f"writing {name}", None)
            stored = session.table(name)
            rows = self._staged_frame(item, stored)
            if replace or stored.isEmpty():
                new, inserted, updated = rows, item.rows, 0
            else:
                runner.report(f"comparing {name}", None)
                new, inserted, updated = _merged(stored, rows, list(item.table.key))
            versions[name] = self.store.write(name, new)
            loads.append(
                TableLoad(name, item.rows, inserted, updated, item.rows - inserted - updated)
            )
        now = dt.datetime.now(dt.UTC)
        log = session.table(LOADS_TABLE)
        entries = [(x.table, sources, x.inserted, x.updated, x.unchanged, now) for x in loads]
        log = log.unionByName(session.createDataFrame(entries, log.schema))
        versions[LOADS_TABLE] = self.store.write(LOADS_TABLE, log)
        runner.report("swapping in the new tables", None)
        self.store.publish(versions)
        return loads

    def _staged_frame(self, item: StagedTable, stored: DataFrame) -> DataFrame:
        """The staged rows as a Spark frame with the stored table's column types."""
        path = self.folder / f"{item.table.name}.parquet"
        self.scratch.execute(
            f"COPY (SELECT {idents(item.table.names())} FROM {item.relation}) "
            f"TO {lit(str(path))} (FORMAT parquet)"
        )
        session = self.store.session
        # A remote cluster cannot read this machine's files: send the rows as Arrow instead.
        raw = (
            session.read.parquet(str(path))
            if self.store.local
            else session.createDataFrame(pq.read_table(path))
        )
        return raw.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in stored.schema])


def _merged(stored: DataFrame, staged: DataFrame, key: list[str]) -> tuple[DataFrame, int, int]:
    """The stored rows with the staged ones merged in by key: (rows, inserted, updated)."""
    # EXCEPT compares nulls as equal, like the other engines' merge; the diff is computed once.
    diff = staged.subtract(stored).localCheckpoint()
    same_key = reduce(operator.and_, [diff[k].eqNullSafe(stored[k]) for k in key])
    updated = diff.join(stored, same_key, "left_semi").count()
    kept = stored.join(diff, same_key, "left_anti")
    return kept.unionByName(diff), diff.count() - updated, updated
