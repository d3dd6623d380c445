"""Safe pieces of SQL text: quoted identifiers and literals, built by sqlglot.

Imports need a few statements Ibis does not express (transactions, DELETE USING, ALTER); every
name or value that comes from a user goes through these functions, never raw into a string.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlglot.expressions as exp


def ident(name: str, dialect: str = "duckdb") -> str:
    """Return ``name`` as a quoted SQL identifier."""
    return exp.to_identifier(name, quoted=True).sql(dialect)


def lit(value: object, dialect: str = "duckdb") -> str:
    """Return a Python value as an escaped SQL literal."""
    return exp.convert(value).sql(dialect)


def idents(names: Iterable[str], dialect: str = "duckdb") -> str:
    """Return a comma-separated list of quoted identifiers."""
    return ", ".join(ident(n, dialect) for n in names)
