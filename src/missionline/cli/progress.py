"""A rich progress bar fed by the library's ``progress(label, fraction)`` callbacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from missionline.cli.output import err_console


@contextmanager
def progress_bar() -> Iterator[Callable[[str, float | None], None]]:
    """Yield a callback that shows each labelled phase as a bar (or a pulse when unknown)."""
    bar = Progress(
        TextColumn("{task.description:<32}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(label: str, fraction: float | None) -> None:
        if label not in tasks:
            tasks[label] = bar.add_task(label, total=None if fraction is None else 1.0)
        task = tasks[label]
        if fraction is None:
            bar.update(task, total=None)
        else:
            bar.update(task, total=1.0, completed=min(fraction, 1.0))

    with bar:
        yield update
