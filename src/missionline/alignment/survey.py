"""The alignment questionnaire: the instrument, its answers, the perception gap and reliability.

Definitions (the documentation of record is docs/alignment.md):

* An *answer* is a respondent's **latest** response to a statement (by ``at``, then
  ``response_id``) in the window: all time, answers before ``end``, or each ``period`` (the
  period of ``at``). Responses to ids the instrument does not have are left out. A respondent
  belongs to the function of their latest answer in the window.
* **Anonymity**: an answer counts only when its function has at least :data:`MIN_GROUP`
  respondents in the window and at least :data:`MIN_GROUP` of them answered that statement.
  Other answers are left out of every figure, the "all" rows included, so that no small group
  can be recovered by subtraction; their group is listed with its head count only.
* A respondent's *score* is the mean of their answers. Function figures are means over
  respondents' scores; statement figures are means over the statement's answers.
* The **gap** is the first compared function minus the second (``alignment.compare``, default
  marketing - sales), with Welch's t confidence interval (unequal variances,
  Welch-Satterthwaite degrees of freedom) and two-sided p-value: overall over respondents'
  scores, per statement over its answers.
* **Cronbach's alpha** over the respondent * statement matrix of complete respondents:
  k/(k-1) · (1 - Σ item variances ÷ variance of the total), sample variances.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
from ruamel.yaml import YAML
from scipy import stats

from missionline.data.schema import Table
from missionline.errors import MissionlineError
from missionline.metrics.periods import period_start
from missionline.plan.models import Plan
from missionline.plan.models_alignment import DEFAULT_COMPARE, SurveyStatement

if TYPE_CHECKING:  # the workspace imports the alignment package
    from missionline.workspace import Workspace

MIN_GROUP = 3  # fewer respondents than this and a group's answers are not shown
SCALE = (1, 5)
CONFIDENCE = 0.95
ALL = "all"
SHARES = [f"share_{k}" for k in range(SCALE[0], SCALE[1] + 1)]
FUNCTION_COLUMNS = ["function", "respondents", "answers", "mean", "sd", "alpha", *SHARES]
GAP_COLUMNS = ["function_a", "function_b", "respondents_a", "respondents_b", "mean_a", "mean_b"]
GAP_COLUMNS += ["gap", "ci_low", "ci_high", "df", "p_value"]
By = Literal["function", "statement"]


@cache
def default_instrument() -> tuple[SurveyStatement, ...]:
    """The packaged questionnaire (``instrument.yaml``)."""
    path = resources.files("missionline.alignment") / "instrument.yaml"
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return tuple(SurveyStatement.model_validate(item) for item in data["statements"])


def instrument(plan: Plan) -> list[SurveyStatement]:
    """The plan's questionnaire (``alignment.survey``), else the default instrument."""
    if plan.alignment is not None and plan.alignment.survey is not None:
        return list(plan.alignment.survey)
    return list(default_instrument())


def compared(plan: Plan) -> tuple[str, str]:
    """The two functions whose answers are compared: ``alignment.compare`` or marketing, sales."""
    pair = plan.alignment.compare if plan.alignment is not None else DEFAULT_COMPARE
    return pair[0], pair[1]


@dataclass(frozen=True)
class Welch:
    """Difference of two means with Welch's confidence interval."""

    gap: float
    ci_low: float
    ci_high: float
    df: float | None
    p_value: float | None


def welch(
    a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series, confidence: float = CONFIDENCE
) -> Welch | None:
    """Mean of ``a`` minus mean of ``b`` with Welch's t interval; None below two values each."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        return None
    gap = float(x.mean() - y.mean())
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = float(np.sqrt(va + vb))
    if se == 0:  # no spread in either group: the difference is exact
        return Welch(gap, gap, gap, None, None)
    df = float((va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1)))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    p_value = float(2 * stats.t.sf(abs(gap) / se, df))
    return Welch(gap, gap - half, gap + half, df, p_value)


def cronbach_alpha(items: pd.DataFrame) -> float | None:
    """Cronbach's alpha of a respondent * item matrix, over complete rows; None if undefined."""
    complete = items.dropna()
    k, n = complete.shape[1], complete.shape[0]
    if k < 2 or n < 2:
        return None
    total = complete.sum(axis=1).var(ddof=1)
    if total == 0:
        return None
    return float(k / (k - 1) * (1 - complete.var(ddof=1).sum() / total))


def _latest(responses: ir.Table, keys: list[str]) -> ir.Table:
    """Each respondent's latest response per statement (and period), ties by response id."""
    order = ibis.window(
        group_by=[responses[k] for k in keys],
        order_by=[ibis.desc(responses.at), ibis.desc(responses.response_id)],
    )
    ranked = responses.mutate(_rank=ibis.row_number().over(order))
    return ranked.filter(ranked._rank == 0).drop("_rank")


def survey_answers(
    tables: dict[str, ir.Table],
    plan: Plan,
    period: str | None = None,
    end: dt.date | None = None,
) -> pd.DataFrame:
    """One row per respondent and statement (and period): the answer and whether it counts.

    Columns: ``respondent``, ``function``, ``statement``, ``score``, ``at``, ``counts`` (the
    anonymity rule) and, with ``period``, ``period``.
    """
    ids = [s.id for s in instrument(plan)]
    responses = tables["survey_responses"]
    responses = responses.filter(responses.question_id.isin(ids))
    keys = ["respondent", "question_id"]
    if end is not None:
        responses = responses.filter(responses.at < ibis.timestamp(str(end)))
    if period:
        responses = responses.filter(responses.at.notnull())
        responses = responses.mutate(period=period_start(responses.at, period))
        keys.append("period")
    latest = _latest(responses, keys)
    columns = ["respondent", "function", "question_id", "score", "at", *keys[2:]]
    frame = latest.select(*columns).to_pandas().rename(columns={"question_id": "statement"})
    if period:
        frame["period"] = pd.to_datetime(frame["period"]).dt.date
    return _with_eligibility(frame, keys[2:])


def _with_eligibility(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Give each respondent their latest function, and mark the answers that may be shown."""
    frame = frame.sort_values(["at", "statement"], na_position="first", kind="stable")
    latest = frame.groupby([*group, "respondent"], sort=False)["function"].transform("last")
    frame = frame.assign(function=latest, score=frame["score"].astype("float64"))
    people = frame.groupby([*group, "function"])["respondent"].transform("nunique")
    answered = frame.groupby([*group, "function", "statement"])["respondent"].transform("nunique")
    frame["counts"] = (people >= MIN_GROUP) & (answered >= MIN_GROUP)
    return frame.reset_index(drop=True)


def _distribution(scores: pd.Series) -> dict[str, float | None]:
    """Share of the answers at each point of the scale."""
    n = len(scores)
    return {
        f"share_{k}": (float((scores == k).sum() / n) if n else None)
        for k in range(SCALE[0], SCALE[1] + 1)
    }


def _function_row(function: str, answers: pd.DataFrame, everyone: pd.DataFrame) -> dict[str, Any]:
    """One function's figures from its counted answers (head count from all its answers)."""
    shown = answers[answers["counts"]]
    people = shown.groupby("respondent")["score"].mean()
    matrix = shown.pivot_table(index="respondent", columns="statement", values="score")
    suppressed = shown.empty
    return {
        "function": function,
        "respondents": int(everyone["respondent"].nunique()),
        "answers": len(shown),
        "mean": None if suppressed else float(people.mean()),
        "sd": float(people.std(ddof=1)) if len(people) > 1 else None,
        "alpha": None if suppressed else cronbach_alpha(matrix),
        **_distribution(shown["score"]),
        "suppressed": suppressed,
    }


def _function_order(plan: Plan, present: Sequence[str]) -> list[str]:
    """Functions in plan order, then any others found in the answers, alphabetically."""
    planned = [f.id for f in plan.functions if f.id in set(present)]
    return planned + sorted(set(present) - set(planned))


def by_function(answers: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Per function and for everyone (``all``): respondents, mean, sd, alpha, distribution."""
    rows = [
        _function_row(f, answers[answers["function"] == f], answers[answers["function"] == f])
        for f in _function_order(plan, list(answers["function"].unique()))
    ]
    rows.append(_function_row(ALL, answers, answers[answers["counts"]]))
    return pd.DataFrame(rows, columns=[*FUNCTION_COLUMNS, "suppressed"])


def by_statement(answers: pd.DataFrame, plan: Plan) -> pd.DataFrame:
    """Per statement: counted answers, mean, sd, distribution, the compared means and the gap."""
    a, b = compared(plan)
    shown = answers[answers["counts"]]
    rows = []
    for statement in instrument(plan):
        scores = shown[shown["statement"] == statement.id]
        side = {f: scores.loc[scores["function"] == f, "score"] for f in (a, b)}
        test = welch(side[a], side[b])
        rows.append(
            {
                "statement": statement.id,
                "pillar": statement.pillar,
                "text": statement.text,
                "respondents": len(scores),
                "mean": float(scores["score"].mean()) if len(scores) else None,
                "sd": float(scores["score"].std(ddof=1)) if len(scores) > 1 else None,
                **_distribution(scores["score"]),
                f"{a}_mean": float(side[a].mean()) if len(side[a]) else None,
                f"{b}_mean": float(side[b].mean()) if len(side[b]) else None,
                **_gap_fields(test),
            }
        )
    return pd.DataFrame(rows)


def _gap_fields(test: Welch | None) -> dict[str, float | None]:
    keys = ("gap", "ci_low", "ci_high", "df", "p_value")
    return {k: (getattr(test, k) if test is not None else None) for k in keys}


def gap(
    answers: pd.DataFrame, plan: Plan, statements: Sequence[str] | None = None
) -> dict[str, Any]:
    """The overall gap between the compared functions over respondents' scores (Welch)."""
    a, b = compared(plan)
    shown = answers[answers["counts"]]
    if statements is not None:
        shown = shown[shown["statement"].isin(list(statements))]
    people = shown.groupby(["function", "respondent"], as_index=False)["score"].mean()
    side = {f: people.loc[people["function"] == f, "score"] for f in (a, b)}
    return {
        "function_a": a,
        "function_b": b,
        "respondents_a": len(side[a]),
        "respondents_b": len(side[b]),
        "mean_a": float(side[a].mean()) if len(side[a]) else None,
        "mean_b": float(side[b].mean()) if len(side[b]) else None,
        **_gap_fields(welch(side[a], side[b])),
    }


def survey_results(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    by: By = "function",
    period: str | None = None,
) -> pd.DataFrame:
    """Questionnaire results per function (with ``all``) or per statement, and per period."""
    del schema  # same signature as the other metrics; the questionnaire has one table
    if by not in ("function", "statement"):
        raise MissionlineError(
            f"unknown --by {by!r} for the questionnaire; use function or statement"
        )
    shape = by_function if by == "function" else by_statement
    answers = survey_answers(tables, plan, period)
    if not period:
        return shape(answers, plan)
    parts = [shape(group, plan).assign(period=p) for p, group in answers.groupby("period")]
    return (
        pd.concat(parts, ignore_index=True) if parts else shape(answers, plan).assign(period=None)
    )


def survey_gap(
    tables: dict[str, ir.Table],
    schema: dict[str, Table],
    plan: Plan,
    period: str | None = None,
    statements: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The compared functions' overall gap with its interval: one row, or one per period."""
    del schema  # same signature as the other metrics; the questionnaire has one table
    answers = survey_answers(tables, plan, period)
    if not period:
        return pd.DataFrame([gap(answers, plan, statements)], columns=GAP_COLUMNS)
    rows = [{**gap(g, plan, statements), "period": p} for p, g in answers.groupby("period")]
    return pd.DataFrame(rows, columns=[*GAP_COLUMNS, "period"])


def record_response(
    ws: Workspace,
    respondent: str,
    function: str,
    answers: Mapping[str, int],
    at: dt.datetime | None = None,
) -> int:
    """Store one respondent's answers (statement id → 1..5) in one insert; return the count.

    This is what the web questionnaire calls. ``at`` defaults to now (UTC). Mistakes (an empty
    respondent, a function the plan does not declare, an unknown statement, a score off the
    scale) raise :class:`MissionlineError` and store nothing.
    """
    respondent = respondent.strip()
    if not respondent:
        raise MissionlineError("a questionnaire response needs a respondent id")
    functions = [f.id for f in ws.plan.functions]
    if functions and function not in functions:
        raise MissionlineError(
            f"unknown function {function!r} for a questionnaire response; "
            f"use one of {', '.join(functions)}"
        )
    known = {s.id for s in instrument(ws.plan)}
    problems = [f"unknown statement {k!r}" for k in answers if k not in known]
    problems += [
        f"statement {k!r}: score {v!r} is not a whole number from {SCALE[0]} to {SCALE[1]}"
        for k, v in answers.items()
        if isinstance(v, bool) or not isinstance(v, int) or not SCALE[0] <= v <= SCALE[1]
    ]
    if problems or not answers:
        raise MissionlineError(
            "questionnaire response not stored: " + ("; ".join(problems) or "no answers")
        )
    moment = at or dt.datetime.now(dt.UTC)
    if moment.tzinfo is not None:  # stored as naive UTC, like every timestamp
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    rows = pd.DataFrame(
        {
            "response_id": [uuid.uuid4().hex for _ in answers],
            "respondent": respondent,
            "function": function,
            "question_id": list(answers),
            "score": [int(v) for v in answers.values()],
            "at": pd.Timestamp(moment),
        }
    )
    columns = ws.schema["survey_responses"].names()
    ws.db.append("survey_responses", rows.reindex(columns=columns))
    return len(rows)
