"""Entry-rule conformance matches a pandas reference; offenders are the records that broke it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from missionline.cli.main import main
from missionline.plan.check import check_plan
from missionline.workspace import Workspace

from conftest import load_fixture, write

PLAN = """
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified], entry_rule: source_channel is not null}
    - id: mql
      name: MQL
      next: [sal, recycled]
      entry_rule: employees >= 100 or lower(segment) = 'transportation'
    - {id: sal, name: SAL, next: [sql]}
    - {id: sql, name: SQL, next: [opportunity], entry_rule: days_since(created_at) >= 5}
    - id: opportunity
      name: Opportunity
      record_type: opportunity
      next: [won, lost]
      entry_rule: amount >= 600 and accounts.market = 'japan'
    - {id: won, name: Won, record_type: opportunity}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""


@pytest.fixture
def loaded(tmp_path: Path) -> Workspace:
    """The fixture company under a plan with entry rules on four stages."""
    ws = Workspace.init(tmp_path / "ws", str(write(tmp_path / "plan.yaml", PLAN)))
    load_fixture(ws, tmp_path / "files")
    yield ws  # type: ignore[misc]
    ws.close()


def reference(ws: Workspace) -> dict[str, tuple[int, int]]:
    """(entries, conforming) per stage, record by record in pandas."""
    events, people = ws.table("stage_events"), ws.table("people").set_index("person_id")
    accounts = ws.table("accounts").set_index("account_id")
    opps = ws.table("opportunities").set_index("opportunity_id")
    first = events.groupby(["stage", "record_id"])["entered_at"].min()

    def account(account_id: object) -> pd.Series:
        return accounts.loc[account_id] if account_id in accounts.index else pd.Series(dtype=object)

    def meets(stage: str, record: str, at: pd.Timestamp) -> bool:
        if stage == "lead":
            return pd.notna(people.loc[record, "source_channel"])
        if stage == "mql":
            acc = account(people.loc[record, "account_id"])
            big = pd.notna(acc.get("employees")) and acc.get("employees") >= 100
            seg = acc.get("segment")
            return bool(big or (isinstance(seg, str) and seg.lower() == "transportation"))
        if stage == "sql":
            return (at - people.loc[record, "created_at"]).total_seconds() / 86400 >= 5
        acc = account(opps.loc[record, "account_id"])
        return bool(opps.loc[record, "amount"] >= 600 and acc.get("market") == "japan")

    out = {}
    for stage in ("lead", "mql", "sql", "opportunity"):
        rows = first.loc[stage]
        out[stage] = (len(rows), sum(meets(stage, r, t) for r, t in rows.items()))
    return out


def test_conformance_matches_reference(loaded: Workspace) -> None:
    """Entries and conforming entries per stage equal the record-by-record reference."""
    frame = loaded.verify().set_index("stage")
    expected = reference(loaded)
    assert {s: (int(r.entries), int(r.conforming)) for s, r in frame.iterrows()} == expected
    assert frame.loc["mql", "conformance"] == pytest.approx(expected["mql"][1] / expected["mql"][0])


def test_conformance_by_dimension_sums_to_total(loaded: Workspace) -> None:
    """Grouped conformance adds up to the whole, per stage."""
    total = loaded.verify().set_index("stage")
    grouped = (
        loaded.verify(by="channel", period="month")
        .groupby("stage")[["entries", "conforming"]]
        .sum()
    )
    pd.testing.assert_frame_equal(
        grouped.sort_index(),
        total[["entries", "conforming"]].sort_index(),
        check_dtype=False,
        check_names=False,
    )


def test_offenders_are_the_records_that_broke_the_rule(loaded: Workspace) -> None:
    """The sample lists only records that entered without meeting the rule."""
    bad = loaded.offenders(limit=10)
    frame = loaded.verify().set_index("stage")
    for stage, rows in bad.groupby("stage"):
        broken = frame.loc[stage, "entries"] - frame.loc[stage, "conforming"]
        assert len(rows) == min(10, broken)
    assert set(bad["stage"]) == {s for s, r in frame.iterrows() if r.entries > r.conforming}


def test_verify_command_json(loaded: Workspace, capsys: pytest.CaptureFixture[str]) -> None:
    """`missionline verify -f json` gives conformance rows and offenders."""
    folder = loaded.folder
    loaded.close()
    assert main(["verify", "-w", str(folder), "-f", "json", "--by", "segment"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {"stage", "rule", "entries", "conforming", "conformance", "segment"} == set(
        payload["conformance"][0]
    )
    assert isinstance(payload["offenders"], list)


@pytest.mark.parametrize(
    ("rule", "message", "column"),
    [
        ("lead_scroe >= 60", "unknown column 'lead_scroe'", 19),
        ("employees >= 'many'", "cannot compare", 19),
        ("(employees > 1", "expected ')'", 33),
        ("employees >>= 1", "expected", 30),
    ],
)
def test_bad_entry_rules_point_at_the_column(rule: str, message: str, column: int) -> None:
    """An entry rule error names the YAML line and the column in the rule, with a caret."""
    text = PLAN.replace(
        "entry_rule: days_since(created_at) >= 5}", "}\n    - {id: x, name: X}"
    ).replace(
        "    - {id: lead, name: Lead, next: [mql, disqualified], entry_rule: "
        "source_channel is not null}",
        "    - id: lead\n      name: Lead\n      next: [mql, disqualified]\n"
        f"      entry_rule: {rule}",
    )
    errors = check_plan(Path("missionline.yaml"), text=text).errors
    entry = [e for e in errors if e.rule == "invalid-entry-rule"]
    assert entry, errors
    assert entry[0].line == 7
    assert message in entry[0].message
    assert entry[0].column is not None and entry[0].column >= 19
    assert "^" in entry[0].message
