"""The canonical tables, declared once: columns, types, keys, foreign keys and allowed values.

Every other module (imports, validation, exports, metrics) reads the declarations here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

import ibis.expr.datatypes as dt

FIELD_TYPES = Literal["string", "float", "int", "bool", "timestamp", "date"]

IBIS_TYPES: dict[str, dt.DataType] = {
    "string": dt.string,
    "float": dt.float64,
    "int": dt.int64,
    "bool": dt.boolean,
    "timestamp": dt.timestamp,
    "date": dt.date,
}

# Stored in the database; a workspace written by a newer missionline refuses to open.
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Column:
    """One column of a canonical table."""

    name: str
    type: str
    required: bool = False
    allowed: tuple[str, ...] = ()
    non_negative: bool = False
    bounds: tuple[float, float] | None = None  # inclusive range, e.g. a 1-5 score
    description: str = ""


@dataclass(frozen=True)
class ForeignKey:
    """``column`` refers to ``table.target``; ``when`` restricts it to rows of one record type."""

    column: str
    table: str
    target: str
    when: tuple[str, str] | None = None


@dataclass(frozen=True)
class Table:
    """A canonical table: its columns, the key that identifies a row, and its references."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    foreign_keys: tuple[ForeignKey, ...] = ()
    description: str = ""
    extra: tuple[Column, ...] = field(default=())

    @property
    def all_columns(self) -> tuple[Column, ...]:
        """Canonical columns followed by the plan's declared extra fields."""
        return self.columns + self.extra

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for c in self.all_columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def names(self) -> list[str]:
        """Return every column name in order."""
        return [c.name for c in self.all_columns]

    def ibis_schema(self) -> dict[str, dt.DataType]:
        """Return the column types as an Ibis schema mapping."""
        return {c.name: IBIS_TYPES[c.type] for c in self.all_columns}


def _c(name: str, type_: str, required: bool = False, **kw: object) -> Column:
    return Column(name, type_, required, **kw)  # type: ignore[arg-type]


RECORD_TYPES = ("person", "opportunity", "account")
# record type -> (its table, its id column)
ENTITIES = {
    "person": ("people", "person_id"),
    "opportunity": ("opportunities", "opportunity_id"),
    "account": ("accounts", "account_id"),
}

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "accounts",
            (
                _c("account_id", "string", True),
                _c("name", "string"),
                _c("market", "string"),
                _c("segment", "string"),
                _c("region", "string"),
                _c("industry", "string"),
                _c("employees", "int", non_negative=True),
                _c("created_at", "timestamp"),
            ),
            key=("account_id",),
            description="Companies, prospects and customers, with their market and segment.",
        ),
        Table(
            "people",
            (
                _c("person_id", "string", True),
                _c("account_id", "string"),
                _c("created_at", "timestamp", True),
                _c("source_channel", "string"),
                _c("first_initiative_id", "string"),
            ),
            key=("person_id",),
            foreign_keys=(ForeignKey("account_id", "accounts", "account_id"),),
            description="Contacts and leads: the records that move through the early stages.",
        ),
        Table(
            "stage_events",
            (
                _c("record_id", "string", True),
                _c("record_type", "string", True, allowed=RECORD_TYPES),
                _c("stage", "string", True),
                _c("entered_at", "timestamp", True),
                _c("owner_id", "string"),
                _c("reason", "string"),
            ),
            key=("record_id", "record_type", "stage", "entered_at"),
            foreign_keys=(
                ForeignKey("record_id", "people", "person_id", when=("record_type", "person")),
                ForeignKey(
                    "record_id",
                    "opportunities",
                    "opportunity_id",
                    when=("record_type", "opportunity"),
                ),
                ForeignKey("record_id", "accounts", "account_id", when=("record_type", "account")),
                ForeignKey("owner_id", "owners", "owner_id"),
            ),
            description="The lifecycle history: one row each time a record enters a stage.",
        ),
        Table(
            "opportunities",
            (
                _c("opportunity_id", "string", True),
                _c("account_id", "string"),
                _c("person_id", "string"),
                _c("created_at", "timestamp", True),
                _c("closed_at", "timestamp"),
                _c("amount", "float", non_negative=True),
                _c("currency", "string"),
                _c("status", "string", True, allowed=("open", "won", "lost")),
                _c("kind", "string", allowed=("new", "expansion", "renewal")),
                _c("owner_id", "string"),
                _c("loss_reason", "string"),
            ),
            key=("opportunity_id",),
            foreign_keys=(
                ForeignKey("account_id", "accounts", "account_id"),
                ForeignKey("person_id", "people", "person_id"),
                ForeignKey("owner_id", "owners", "owner_id"),
            ),
            description="Deals: amount, status and the account and person they came from.",
        ),
        Table(
            "touches",
            (
                _c("touch_id", "string", True),
                _c("person_id", "string"),
                _c("account_id", "string"),
                _c("at", "timestamp", True),
                _c("channel", "string"),
                _c("initiative_id", "string"),
                _c("function", "string", True),
                _c("kind", "string"),
            ),
            key=("touch_id",),
            foreign_keys=(
                ForeignKey("person_id", "people", "person_id"),
                ForeignKey("account_id", "accounts", "account_id"),
            ),
            description="Marketing touches and sales activities.",
        ),
        Table(
            "spend",
            (
                _c("initiative_id", "string"),
                _c("channel", "string"),
                _c("function", "string", True),
                _c("period_start", "timestamp", True),
                _c("period_end", "timestamp", True),
                _c("amount", "float", True, non_negative=True),
                _c("currency", "string"),
            ),
            key=("initiative_id", "channel", "function", "period_start", "period_end"),
            description="Money spent by a function, per initiative or channel and period.",
        ),
        Table(
            "revenue",
            (
                _c("account_id", "string", True),
                _c("at", "timestamp", True),
                _c("amount", "float", True),
                _c(
                    "kind",
                    "string",
                    True,
                    allowed=("new", "expansion", "renewal", "contraction", "churn", "purchase"),
                ),
            ),
            key=("account_id", "at", "kind"),
            foreign_keys=(ForeignKey("account_id", "accounts", "account_id"),),
            description="Revenue per account over time; contraction and churn are negative.",
        ),
        Table(
            "owners",
            (
                _c("owner_id", "string", True),
                _c("name", "string"),
                _c("function", "string"),
                _c("team", "string"),
                _c("capacity", "int", non_negative=True),
            ),
            key=("owner_id",),
            description="People who own records: marketers, SDRs, account executives.",
        ),
        Table(
            "assignments",
            (
                _c("experiment_id", "string", True),
                _c("unit_id", "string", True),
                _c("variant", "string", True),
                _c("at", "timestamp"),
            ),
            key=("experiment_id", "unit_id"),
            description="Who saw which variant of an experiment.",
        ),
        Table(
            "survey_responses",
            (
                _c("response_id", "string", True),
                _c("respondent", "string", True),
                _c("function", "string", True),
                _c("question_id", "string", True),
                _c("score", "int", True, bounds=(1, 5)),
                _c("at", "timestamp"),
            ),
            key=("response_id",),
            description="Answers to the alignment questionnaire (1 to 5).",
        ),
    )
}

# Tables in an order where every foreign key points backwards (imports validate in this order).
LOAD_ORDER = (
    "owners",
    "accounts",
    "people",
    "opportunities",
    "stage_events",
    "touches",
    "spend",
    "revenue",
    "assignments",
    "survey_responses",
)


def tables_with_fields(fields: Mapping[str, Mapping[str, str]]) -> dict[str, Table]:
    """Return the canonical tables extended with a plan's declared extra columns."""
    out = dict(TABLES)
    for table_name, columns in fields.items():
        if table_name not in TABLES:
            continue  # reported by the plan rule unknown-field-table
        extra = tuple(Column(name, type_) for name, type_ in columns.items())
        out[table_name] = replace(TABLES[table_name], extra=extra)
    return out
