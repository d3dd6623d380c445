"""A report section and the figure helper every section uses."""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.io as pio


@dataclass(frozen=True)
class Section:
    """A report section: a title, a reading in plain words, charts and a table."""

    id: str
    title: str
    reading: str
    charts: list[str]
    columns: list[str]
    rows: list[dict[str, object]]


def figure_html(figure: go.Figure) -> str:
    """Render a figure as a div that uses the report's single inlined Plotly script."""
    return pio.to_html(
        figure,
        include_plotlyjs=False,
        full_html=False,
        config={"displaylogo": False, "responsive": True},
    )
