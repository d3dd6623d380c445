"""The funnel agrees with a record-by-record reference on fixtures with awkward paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from missionline.workspace import Workspace

from conftest import load_fixture, write
from reference import reference_funnel

PATH = [
    ("lead", "person"),
    ("mql", "person"),
    ("sal", "person"),
    ("sql", "person"),
    ("opportunity", "opportunity"),
    ("won", "opportunity"),
]


@pytest.fixture
def loaded(workspace: Workspace, tmp_path: Path) -> Workspace:
    """The starter workspace with the awkward fixture company loaded."""
    load_fixture(workspace, tmp_path / "files")
    return workspace


def reference(ws: Workspace, **kwargs: object) -> pd.DataFrame:
    """Run the reference implementation on the workspace's tables."""
    return reference_funnel(
        ws.table("stage_events"),
        ws.table("people"),
        ws.table("opportunities"),
        ws.table("accounts"),
        PATH,
        **kwargs,
    )


def assert_same(engine: pd.DataFrame, ref: pd.DataFrame, keys: list[str]) -> None:
    """Compare two funnels row by row, exactly up to float rounding."""
    engine = engine.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    ref = ref.sort_values(keys, key=lambda s: s.astype(str)).reset_index(drop=True)
    assert len(engine) == len(ref)
    for column in ref.columns:
        left = engine[column].astype(object).where(engine[column].notna(), None).tolist()
        right = ref[column].astype(object).where(ref[column].notna(), None).tolist()
        for a, b in zip(left, right, strict=True):
            if isinstance(a, float) or isinstance(b, float):
                assert a is not None and b is not None, (column, left, right)
                assert a == pytest.approx(b, rel=1e-12, abs=1e-12), (column, left, right)
            else:
                assert a == b, (column, left, right)


def test_cohort_funnel_matches_reference(loaded: Workspace) -> None:
    """Cohort conversion follows skips, re-entries and person-to-opportunity links exactly."""
    assert_same(loaded.funnel(), reference(loaded), ["stage"])


def test_known_values(loaded: Workspace) -> None:
    """Hand-checked numbers: a tie converts, p3 skipping sal counts as not converted at mql."""
    frame = loaded.funnel().set_index("stage")
    assert frame.loc["lead", "entries"] == 6
    assert frame.loc["lead", "conversion_to_next"] == pytest.approx(5 / 6)
    assert frame.loc["mql", "entries"] == 5
    assert frame.loc["mql", "conversion_to_next"] == pytest.approx(2 / 5)
    assert frame.loc["sql", "conversion_to_next"] == pytest.approx(3 / 3)
    assert frame.loc["opportunity", "conversion_to_next"] == pytest.approx(1 / 3)
    assert np.isnan(frame.loc["won", "conversion_to_next"])
    assert frame.loc["won", "cumulative_conversion"] == pytest.approx(
        5 / 6 * 2 / 5 * 1 / 2 * 1 * 1 / 3
    )


@pytest.mark.parametrize("by", ["channel", "segment"])
def test_funnel_by_dimension_matches_reference(loaded: Workspace, by: str) -> None:
    """Grouping by a person or account attribute, nulls included, matches the reference."""
    assert_same(loaded.funnel(by=by), reference(loaded, by=by), [by, "stage"])


@pytest.mark.parametrize("basis", ["cohort", "period"])
def test_funnel_by_period_matches_reference(loaded: Workspace, basis: str) -> None:
    """Monthly cohorts and monthly period conversion match the reference."""
    engine = loaded.funnel(period="month", basis=basis)  # type: ignore[arg-type]
    assert_same(engine, reference(loaded, period="month", basis=basis), ["period", "stage"])


def test_conversion_window(loaded: Workspace) -> None:
    """A 10-day window drops conversions that took longer."""
    assert_same(loaded.funnel(within_days=10), reference(loaded, within_days=10), ["stage"])


def test_empty_workspace_gives_zero_entries(workspace: Workspace) -> None:
    """With no data every stage shows zero entries and no conversion."""
    frame = workspace.funnel()
    assert frame["entries"].tolist() == [0] * 6
    assert frame["conversion_to_next"].isna().all()


STAGES = [s for s, _ in PATH[:4]]


@st.composite
def person_events(draw: st.DrawFn) -> list[tuple[str, str, int]]:
    """Random event histories of a few people over the person stages."""
    rows = []
    for person in range(draw(st.integers(1, 6))):
        for _ in range(draw(st.integers(0, 5))):
            rows.append((f"p{person}", draw(st.sampled_from(STAGES)), draw(st.integers(0, 40))))
    return rows


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=person_events())
def test_random_histories_match_reference(
    tmp_path_factory: pytest.TempPathFactory, rows: list[tuple[str, str, int]]
) -> None:
    """Any history of stage entries (repeats, ties, any order) agrees with the reference."""
    folder = tmp_path_factory.mktemp("random")
    lines = ["record_id,record_type,stage,entered_at,owner_id,reason"]
    lines += [
        f"{r},person,{s},{pd.Timestamp('2024-01-01') + pd.Timedelta(hours=6 * h)},,"
        for r, s, h in rows
    ]
    (folder / "stage_events.csv").write_text("\n".join(lines) + "\n")
    with Workspace.init(folder / "ws") as ws:
        if rows:
            ws.import_files([folder / "stage_events.csv"])
        assert_same(ws.funnel(), reference(ws), ["stage"])


def test_funnel_by_owner_team(workspace: Workspace, tmp_path: Path) -> None:
    """Grouping by the entry owner's team reads owners through stage_events.owner_id."""
    write(tmp_path / "f" / "owners.csv", "owner_id,name,function,team\nu1,Ann,sales,east\n")
    write(tmp_path / "f" / "people.csv", "person_id,created_at\np1,2024-01-01\np2,2024-01-01\n")
    write(
        tmp_path / "f" / "stage_events.csv",
        "record_id,record_type,stage,entered_at,owner_id\n"
        "p1,person,lead,2024-01-01,u1\np2,person,lead,2024-01-02,\np1,person,mql,2024-01-03,\n",
    )
    workspace.import_files([tmp_path / "f"])
    frame = workspace.funnel(by="team")
    lead = frame[frame["stage"] == "lead"].set_index("team", drop=False)
    assert lead.loc["east", "conversion_to_next"] == 1.0
    assert workspace.funnel(by="owners.function")["owners_function"].dropna().unique().tolist() == [
        "sales"
    ]


def test_funnel_by_message_uses_the_plan(tmp_path: Path) -> None:
    """`--by message` groups people by the message of the initiative that brought them in."""
    plan = write(
        tmp_path / "plan.yaml",
        """
        functions: [{id: marketing, name: Marketing}]
        messages: [{id: fast, statement: Fast.}]
        initiatives:
          - {id: ini_a, name: A, function: marketing, message: fast}
          - {id: ini_b, name: B, function: marketing}
        lifecycle:
          stages:
            - {id: lead, name: Lead, next: [mql]}
            - {id: mql, name: MQL}
    """,
    )
    with Workspace.init(tmp_path / "ws", str(plan)) as ws:
        write(
            tmp_path / "f" / "people.csv",
            "person_id,created_at,first_initiative_id\n"
            "p1,2024-01-01,ini_a\np2,2024-01-01,ini_b\np3,2024-01-01,ini_a\n",
        )
        write(
            tmp_path / "f" / "stage_events.csv",
            "record_id,record_type,stage,entered_at\n"
            "p1,person,lead,2024-01-01\np2,person,lead,2024-01-01\np3,person,lead,2024-01-01\n"
            "p1,person,mql,2024-01-02\n",
        )
        ws.import_files([tmp_path / "f"])
        lead = ws.funnel(by="message").query("stage == 'lead'").set_index("message", drop=False)
    assert lead.loc["fast", "entries"] == 2
    assert lead.loc["fast", "conversion_to_next"] == 0.5
    assert lead["message"].isna().sum() == 1
