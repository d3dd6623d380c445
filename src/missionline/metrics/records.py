"""Records and how they connect: people become opportunities, opportunities belong to accounts.

A funnel crosses record types (a person reaches SQL, their opportunity is won, the account
becomes a customer); these helpers link one record type to another and attach dimensions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from missionline.data.schema import ENTITIES, Table
from missionline.errors import MissionlineError

if TYPE_CHECKING:  # the plan imports the metrics' rule columns; avoid a cycle at run time
    from missionline.plan.models import Plan


# Short names people use on the command line for canonical columns.
ALIASES = {
    "channel": ("people", "source_channel"),
    "owner": ("stage_events", "owner_id"),
    "team": ("owners", "team"),
    "initiative": ("people", "first_initiative_id"),
}
# Tables whose columns can describe a stage entry: the record's own attributes, and the owner
# of the entry (through stage_events.owner_id).
DIMENSION_TABLES = ("accounts", "people", "opportunities", "owners")


@dataclass(frozen=True)
class Dimension:
    """A --by dimension: the output name and the table column it reads."""

    name: str
    table: str
    column: str
    # For dimensions the plan defines: the column's value -> the dimension's value.
    values: tuple[tuple[str, str], ...] | None = None


def resolve_dimension(name: str, tables: dict[str, Table], plan: Plan | None = None) -> Dimension:
    """Find the column a dimension name refers to (``segment``, ``channel``, ``people.x``).

    ``message`` is the message of the initiative that first brought the person in (from the
    plan), so process metrics can be compared message by message.
    """
    if name == "message" and plan is not None:
        pairs = tuple((i.id, i.message) for i in plan.initiatives if i.message)
        return Dimension(name, "people", "first_initiative_id", pairs)
    if "." in name:
        table, column = name.split(".", 1)
        if table in DIMENSION_TABLES and column in tables[table].names():
            return Dimension(name.replace(".", "_"), table, column)
    elif name in ALIASES:
        return Dimension(name, *ALIASES[name])
    else:
        for table in DIMENSION_TABLES[:3]:
            if name in tables[table].names():
                return Dimension(name, table, name)
    known = sorted(
        {*ALIASES, "message", *(c for t in DIMENSION_TABLES[:3] for c in tables[t].names())}
    )
    raise MissionlineError(
        f"unknown dimension {name!r}; use one of {', '.join(known)}, or table.column for a "
        f"column of {', '.join(DIMENSION_TABLES)}"
    )


class Records:
    """Ibis access to the entity tables for linking and dimensions."""

    def __init__(self, tables: dict[str, ir.Table]) -> None:
        self.tables = tables

    def link(self, source: str, target: str, many: bool = True) -> ir.Table | None:
        """Return ``(from_id, to_id)`` pairs linking records of one type to another.

        With ``many=False`` only many-to-one links are returned (each source record reaches
        at most one target), as needed to attach a dimension without duplicating rows.
        """
        s_table, s_id = ENTITIES[source]
        t_table, t_id = ENTITIES[target]
        src, tgt = self.tables[s_table], self.tables[t_table]
        if s_id in tgt.columns and many:
            pairs = tgt.select(from_id=tgt[s_id], to_id=tgt[t_id])
        elif t_id in src.columns:
            pairs = src.select(from_id=src[s_id], to_id=src[t_id])
        else:
            return None
        return pairs.filter(pairs.from_id.notnull() & pairs.to_id.notnull())

    def attach(self, entries: ir.Table, record_type: str, dims: Sequence[Dimension]) -> ir.Table:
        """Add a column per dimension to ``entries`` (rows of one record type); null if unknown."""
        for dim in dims:
            if dim.table == "stage_events":
                entries = entries.mutate(**{dim.name: entries[dim.column]})
                continue
            if dim.table == "owners":
                owners = self.tables["owners"]
                values = owners.select(_k=owners.owner_id, _v=owners[dim.column])
                entries = entries.left_join(values, entries.owner_id == values._k).drop("_k")
                entries = entries.rename({dim.name: "_v"})
                continue
            target = next(t for t, (table, _) in ENTITIES.items() if table == dim.table)
            table, key = ENTITIES[target]
            values = self.tables[table].select(
                _k=self.tables[table][key], _v=self.tables[table][dim.column]
            )
            if target == record_type:
                # the record's own row: a key is unique in its table (the import ensures it),
                # so one join, without first listing the distinct records of ``entries``
                entries = entries.left_join(values, entries.record_id == values._k).drop("_k")
            else:
                link = self.link(record_type, target, many=False)
                if link is None:
                    entries = entries.mutate(**{dim.name: ibis.null(values._v.type())})
                    continue
                pairs = link.select(_from=link.from_id, _to=link.to_id)
                joined = pairs.join(values, pairs._to == values._k)
                # one value per record (min, not first: PostgreSQL has no first() aggregate)
                mapped = joined.group_by("_from").agg(_v=joined._v.min())
                entries = entries.left_join(mapped, entries.record_id == mapped._from)
                entries = entries.drop("_from")
            if dim.values is not None:
                entries = entries.mutate(
                    _v=entries._v.substitute(dict(dim.values), else_=ibis.null("string"))
                )
            entries = entries.rename({dim.name: "_v"})
        return entries
