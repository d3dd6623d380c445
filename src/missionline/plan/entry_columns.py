"""Which columns an entry rule can read: the entering record's own, then its account's."""

from __future__ import annotations

from missionline.data.schema import ENTITIES, Table


def rule_tables(record_type: str) -> list[str]:
    """The tables a rule on this record type can read, the record's own first."""
    own = ENTITIES[record_type][0]
    return [own] if own == "accounts" else [own, "accounts"]


def rule_columns(record_type: str, schema: dict[str, Table]) -> dict[str, str]:
    """Column name -> type for rules on this record type: qualified and plain names."""
    columns: dict[str, str] = {}
    for table in reversed(rule_tables(record_type)):  # the record's own table wins plain names
        for column in schema[table].all_columns:
            columns[f"{table}.{column.name}"] = column.type
            columns[column.name] = column.type
    return columns
