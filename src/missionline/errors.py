"""Errors a user can act on: each carries where the problem is and what was expected.

The CLI prints these without a traceback and exits with ``exit_code``; anything else is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One finding in a user's input: where it is and what is wrong."""

    message: str
    file: str | None = None
    line: int | None = None
    column: int | str | None = None

    def where(self) -> str:
        """Return ``file:line:column`` with the parts that are known."""
        parts = [str(p) for p in (self.file, self.line, self.column) if p is not None]
        return ":".join(parts)

    def __str__(self) -> str:
        where = self.where()
        return f"{where}: {self.message}" if where else self.message


class MissionlineError(Exception):
    """Base class for mistakes in the user's input or environment (not bugs)."""

    exit_code = 2

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)

    def render(self, limit: int = 50) -> str:
        """Return the message and up to ``limit`` problems, with a count of the rest."""
        lines = [self.message]
        lines += ["  " + str(p).replace("\n", "\n    ") for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


class PlanError(MissionlineError):
    """The plan (missionline.yaml) or a mapping file is not valid."""


class DataValidationError(MissionlineError):
    """Imported files failed validation; nothing was written."""


class WorkspaceError(MissionlineError):
    """The workspace folder or its database cannot be used as asked."""
