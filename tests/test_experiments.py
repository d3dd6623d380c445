"""Experiment statistics match statsmodels, SciPy, textbooks and simulation; sums match pandas."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

from missionline.data.schema import TABLES
from missionline.models.experiments import (
    Design,
    analyze,
    analyze_experiment,
    sample_size,
    variant_sums,
)
from missionline.models.experiments.bayes import Direction, beta_binomial, normal_approximation
from missionline.models.experiments.cuped import cuped
from missionline.models.experiments.power import cohens_h, sample_size_for_effect
from missionline.models.experiments.sequential import mixing_variance, msprt, optimal_ratio
from missionline.models.experiments.stats import (
    CovariateSums,
    Moments,
    VariantStats,
    holm,
    srm_p_value,
    two_proportion_test,
    welch_test,
)
from missionline.plan.check import check_plan
from missionline.plan.models_experiments import Experiment
from missionline.plan.rules import PlanContext
from missionline.workspace import Workspace

from conftest import load_fixture, write


def conv(name: str, n: int, x: int) -> VariantStats:
    """A conversion variant with n units and x conversions."""
    return VariantStats(name, n, float(x), float(x), x)


def values(name: str, data: np.ndarray, covariate: np.ndarray | None = None) -> VariantStats:
    """A value variant's sums from raw per-unit values (and a covariate)."""
    sums = None
    if covariate is not None:
        sums = CovariateSums(
            float(covariate.sum()), float((covariate**2).sum()), float((covariate * data).sum())
        )
    return VariantStats(
        name, len(data), float(data.sum()), float((data**2).sum()), int((data != 0).sum()), sums
    )


# --- frequentist -----------------------------------------------------------------------------

PROPORTIONS = [(1000, 100, 1100, 140), (50, 3, 70, 9), (20000, 2010, 19800, 2105), (12, 0, 15, 2)]


@pytest.mark.parametrize(("nc", "xc", "nt", "xt"), PROPORTIONS)
def test_two_proportion_test_matches_statsmodels(nc: int, xc: int, nt: int, xt: int) -> None:
    """The z-test p-value and the Wald interval equal statsmodels' on the same counts."""
    est = two_proportion_test(conv("c", nc, xc), conv("t", nt, xt), alpha=0.05)
    assert est is not None
    _, p = proportions_ztest([xt, xc], [nt, nc])
    low, high = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff")
    assert est.p_value == pytest.approx(p, rel=1e-9)
    assert est.lift_abs == pytest.approx(xt / nt - xc / nc)
    assert est.lift_abs_ci == pytest.approx((low, high), rel=1e-9)


def test_agresti_aspirin_example() -> None:
    """Agresti (2002, Categorical Data Analysis, 2.2.3): 0.0077 ± 1.96 (0.0015) = (0.005, 0.011).

    Physicians' Health Study: heart attacks in 189 of 11,034 on placebo, 104 of 11,037 on
    aspirin; the relative risk is 1.82.
    """
    est = two_proportion_test(conv("aspirin", 11037, 104), conv("placebo", 11034, 189))
    assert est is not None and est.lift_rel is not None
    assert round(est.lift_abs, 4) == 0.0077
    assert round(est.lift_abs_ci[0], 3) == 0.005 and round(est.lift_abs_ci[1], 3) == 0.011
    assert round(1 + est.lift_rel, 2) == 1.82


def test_welch_test_matches_scipy() -> None:
    """Welch's p-value and interval equal scipy.stats.ttest_ind(equal_var=False)."""
    rng = np.random.default_rng(1)
    control, treatment = rng.lognormal(3, 1, 300), rng.lognormal(3.1, 1.3, 250)
    c, t = values("c", control), values("t", treatment)
    est = welch_test(c.moments(False), t.moments(False), alpha=0.1)
    ref = sps.ttest_ind(treatment, control, equal_var=False)
    assert est is not None
    assert est.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    ci = ref.confidence_interval(0.9)
    assert est.lift_abs_ci == pytest.approx((ci.low, ci.high), rel=1e-9)


def test_relative_interval_covers_at_its_level() -> None:
    """The delta-method interval of the relative lift covers the true value about 95% of times."""
    rng = np.random.default_rng(2)
    pc, pt, n = 0.2, 0.24, 3000
    hits = 0
    for xc, xt in zip(rng.binomial(n, pc, 2000), rng.binomial(n, pt, 2000), strict=True):
        est = two_proportion_test(conv("c", n, int(xc)), conv("t", n, int(xt)))
        assert est is not None and est.lift_rel_ci is not None
        hits += est.lift_rel_ci[0] <= pt / pc - 1 <= est.lift_rel_ci[1]
    assert 0.935 <= hits / 2000 <= 0.965


def test_holm_matches_statsmodels() -> None:
    """Holm-adjusted p-values equal statsmodels' multipletests(method='holm'), in input order."""
    p = [0.01, 0.04, 0.03, 0.2, 0.005]
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))


@pytest.mark.parametrize(
    ("units", "split"), [([1000, 1040], None), ([500, 540, 610], None), ([900, 95], [0.9, 0.1])]
)
def test_srm_matches_scipy_chisquare(units: list[int], split: list[float] | None) -> None:
    """The sample-ratio p-value equals scipy.stats.chisquare against the planned split."""
    expected = None if split is None else [sum(units) * s / sum(split) for s in split]
    assert srm_p_value(units, split) == pytest.approx(sps.chisquare(units, expected).pvalue)


# --- power -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "mde", "relative", "variants"),
    [(0.10, 0.02, False, 2), (0.37, 0.03, False, 2), (0.05, 0.2, True, 2), (0.5, -0.1, False, 3)],
)
def test_sample_size_matches_statsmodels(
    baseline: float, mde: float, relative: bool, variants: int
) -> None:
    """Units per variant = statsmodels NormalIndPower (Cohen's h) solved and rounded up."""
    target = baseline * (1 + mde) if relative else baseline + mde
    solved = NormalIndPower().solve_power(
        effect_size=proportion_effectsize(target, baseline),
        alpha=0.05 / (variants - 1),
        power=0.8,
        ratio=1.0,
    )
    assert sample_size(baseline, mde, relative, 0.8, 0.05, variants) == math.ceil(solved)


def test_sample_size_matches_cohens_table() -> None:
    """Cohen (1988, Table 6.4.1): h = 0.2, two-sided alpha 0.05, power 0.8 needs n = 392.

    Cohen rounds 392.4 to the nearest unit; we round up to reach the power.
    """
    p2 = math.sin(math.asin(math.sqrt(0.5)) + 0.1) ** 2
    assert cohens_h(0.5, p2) == pytest.approx(0.2)
    assert sample_size(0.5, p2 - 0.5) == 393
    assert sample_size_for_effect(0.2) == 393


# --- Bayesian ----------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", ["increase", "decrease"])
def test_beta_binomial_matches_monte_carlo(direction: Direction) -> None:
    """Chance to win and expected loss agree with a million posterior draws (beta(1,1) prior)."""
    c, t = conv("c", 800, 96), conv("t", 820, 112)
    est = beta_binomial(c, t, direction)
    rng = np.random.default_rng(3)
    pc = rng.beta(1 + 96, 1 + 800 - 96, 1_000_000)
    pt = rng.beta(1 + 112, 1 + 820 - 112, 1_000_000)
    gain = pt - pc if direction == "increase" else pc - pt
    assert est.chance_to_win == pytest.approx((gain > 0).mean(), abs=0.002)
    loss = np.maximum(-gain, 0)
    assert est.expected_loss == pytest.approx(loss.mean(), abs=4 * loss.std() / 1000)


def test_normal_approximation_matches_monte_carlo() -> None:
    """The normal posterior's chance to win and expected loss agree with direct simulation."""
    c, t = Moments(400, 10.0, 25.0), Moments(380, 10.4, 30.0)
    est = normal_approximation(c, t)
    assert est is not None
    rng = np.random.default_rng(4)
    diff = rng.normal(10.4, math.sqrt(30 / 380), 1_000_000) - rng.normal(
        10.0, math.sqrt(25 / 400), 1_000_000
    )
    assert est.chance_to_win == pytest.approx((diff > 0).mean(), abs=0.002)
    assert est.expected_loss == pytest.approx(np.maximum(-diff, 0).mean(), rel=0.02)


# --- sequential --------------------------------------------------------------------------------


def test_msprt_interval_inverts_the_likelihood_ratio() -> None:
    """At each end of the always-valid interval the mixture likelihood ratio equals 1 / alpha."""
    c, t = Moments(5000, 0.10, 0.09), Moments(5000, 0.115, 0.115 * 0.885)
    tau2 = mixing_variance(0.05, (c.variance + t.variance) / 8000)
    est = msprt(c, t, 0.05, tau2)
    v = c.sampling_variance + t.sampling_variance
    for bound in est.ci:
        d = t.mean - c.mean - bound
        log_lr = 0.5 * math.log(v / (v + tau2)) + tau2 * d**2 / (2 * v * (v + tau2))
        assert log_lr == pytest.approx(math.log(20))
    ratio = optimal_ratio(0.05)
    assert ratio == pytest.approx(-2 * math.log(0.05) + math.log1p(ratio))


def test_msprt_keeps_false_positives_under_alpha_with_twenty_peeks() -> None:
    """Under the null with 20 looks mSPRT rejects at most alpha (+ MC error); naive z-tests more."""
    rng = np.random.default_rng(5)
    sims, peeks, batch, p, alpha = 3000, 20, 250, 0.1, 0.05
    xc = rng.binomial(batch, p, (sims, peeks)).cumsum(axis=1)
    xt = rng.binomial(batch, p, (sims, peeks)).cumsum(axis=1)
    horizon = batch * peeks
    tau2 = mixing_variance(alpha, 2 * p * (1 - p) / horizon)  # tuned to the last look
    sequential_hits = naive_hits = 0
    for s in range(sims):
        seq = naive = False
        for k in range(peeks):
            n = batch * (k + 1)
            c, t = conv("c", n, int(xc[s, k])), conv("t", n, int(xt[s, k]))
            seq = seq or msprt(c.moments(True), t.moments(True), alpha, tau2).p_value < alpha
            est = two_proportion_test(c, t, alpha)
            naive = naive or (est is not None and est.p_value < alpha)
        sequential_hits += seq
        naive_hits += naive
    mc_error = 3 * math.sqrt(alpha * (1 - alpha) / sims)
    assert sequential_hits / sims <= alpha + mc_error
    assert naive_hits / sims > 2 * alpha


# --- CUPED -------------------------------------------------------------------------------------


def test_cuped_matches_regression_adjustment_and_reduces_variance() -> None:
    """Adjusted means equal y - theta (x - mean x) unit by unit; variance drops by rho squared."""
    rng = np.random.default_rng(6)
    x = rng.normal(50, 10, 4000)
    y = 0.8 * x + rng.normal(0, 6, 4000) + np.r_[np.zeros(2000), np.full(2000, 1.5)]
    c, t = values("c", y[:2000], x[:2000]), values("t", y[2000:], x[2000:])
    adjustment = cuped([c, t])
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    assert adjustment.theta == pytest.approx(theta)
    adjusted = y - theta * (x - x.mean())
    for moments, part in zip(adjustment.moments, (adjusted[:2000], adjusted[2000:]), strict=True):
        assert moments.mean == pytest.approx(part.mean())
        assert moments.variance == pytest.approx(part.var(ddof=1))
    assert adjustment.variance_reduction == pytest.approx(np.corrcoef(x, y)[0, 1] ** 2)
    assert adjustment.variance_reduction > 0.5
    plain = welch_test(c.moments(False), t.moments(False))
    reduced = welch_test(adjustment.moments[0], adjustment.moments[1])
    assert plain is not None and reduced is not None
    width = reduced.lift_abs_ci[1] - reduced.lift_abs_ci[0]
    assert width < 0.7 * (plain.lift_abs_ci[1] - plain.lift_abs_ci[0])
    assert reduced.lift_abs_ci[0] < 1.5 < reduced.lift_abs_ci[1]


# --- analysis and verdict ----------------------------------------------------------------------


def test_three_variants_use_holm_p_values_and_bonferroni_intervals() -> None:
    """With two treatments, p-values are Holm-adjusted and intervals at level alpha / 2."""
    variants = [conv("control", 5000, 500), conv("b", 5000, 560), conv("c", 5000, 590)]
    result = analyze("x", variants, Design("control", "conversion"))
    raw = [two_proportion_test(variants[0], v, 0.025) for v in variants[1:]]
    assert all(r is not None for r in raw)
    adjusted = holm([r.p_value for r in raw if r is not None])
    for name, r, p in zip(["b", "c"], raw, adjusted, strict=True):
        assert r is not None
        assert result.variant(name).p_value == pytest.approx(p)
        assert result.variant(name).lift_abs_ci == pytest.approx(r.lift_abs_ci)
    assert result.verdict == "ship" and result.winner == "c"


@pytest.mark.parametrize(
    ("counts", "design", "verdict"),
    [
        ([(1000, 100), (1000, 180)], Design("a", "conversion"), "ship"),
        ([(1000, 180), (1000, 100)], Design("a", "conversion"), "do not ship"),
        ([(1000, 180), (1000, 100)], Design("a", "conversion", direction="decrease"), "ship"),
        ([(1000, 100), (1010, 104)], Design("a", "conversion"), "inconclusive"),
        ([(1000, 100), (1300, 180)], Design("a", "conversion"), "stop: SRM"),
        ([(1000, 100), (1000, 180)], Design("a", "conversion", mde=0.01, finished=False), "keep running"),  # noqa: E501
        ([(9000, 900), (9000, 1100)], Design("a", "conversion", mde=0.02, finished=False), "ship"),
        ([(300, 30), (300, 50)], Design("a", "conversion", sequential=True, finished=False), "keep running"),  # noqa: E501
        ([(3000, 300), (3000, 420)], Design("a", "conversion", sequential=True, finished=False), "ship"),  # noqa: E501
    ],
)  # fmt: skip
def test_verdict_rule(counts: list[tuple[int, int]], design: Design, verdict: str) -> None:
    """The verdict follows the documented rule: SRM, then peeking guard, then the intervals."""
    variants = [conv(name, n, x) for name, (n, x) in zip("ab", counts, strict=True)]
    assert analyze("x", variants, design).verdict == verdict


def test_empty_variant_gives_no_estimates() -> None:
    """A treatment without units has no lift, p-value or chance; the analysis does not fail."""
    result = analyze("x", [conv("a", 100, 10), conv("b", 0, 0)], Design("a", "conversion"))
    row = result.variant("b")
    assert row.lift_abs is None and row.p_value is None and row.chance_to_win is None
    assert result.to_json()["variants"][1]["rate"] is None


# --- the plan ----------------------------------------------------------------------------------

STAGES = """
lifecycle:
  stages:
    - {id: lead, name: Lead, next: [mql, disqualified]}
    - {id: mql, name: MQL, next: [sal, sql, disqualified, recycled]}
    - {id: sal, name: SAL, next: [sql, disqualified, recycled]}
    - {id: sql, name: SQL, next: [opportunity, disqualified, recycled]}
    - {id: opportunity, name: Opportunity, record_type: opportunity, next: [won, lost]}
    - {id: won, name: Won, record_type: opportunity, terminal: true}
    - {id: lost, name: Lost, record_type: opportunity, exit: lost}
    - {id: disqualified, name: Disqualified, exit: disqualified}
    - {id: recycled, name: Recycled, exit: recycled, next: [mql]}
"""
DESIGN = "hypothesis: h, variants: [a, b], start: 2024-01-01"
EXPERIMENTS = [
    "id: exp_conv, metric: {conversion: mql, within: 10d}",
    "id: exp_opp, metric: {conversion: opportunity, within: 60d}",
    "id: exp_value, metric: {value: won_amount, within: 90d}",
    "id: exp_pre, metric: {conversion: mql, within: 20d}, covariate: {pre_period: 40d}",
    "id: exp_acct, unit: account, metric: {value: revenue, within: 365d}, "
    "covariate: {column: employees}",
]


def plan_text(
    experiments: list[str], common: str = "initiative: ini_a, control: a, end: 2024-02-29"
) -> str:
    """A fixture plan with these experiments (each a YAML flow mapping's items)."""
    lines = "".join(
        f"  - {{{e}, {common}, {DESIGN}, minimum_detectable_effect: 0.1}}\n" for e in experiments
    )
    return (
        "company: Fixture\n"
        "functions: [{id: marketing, name: Marketing}]\n"
        "initiatives: [{id: ini_a, name: A, function: marketing}]\n"
        f"experiments:\n{lines}{STAGES}"
    )


PLAN = plan_text(EXPERIMENTS)
# p3 is assigned exactly 10 days before its MQL entry (the window is half-open: no conversion);
# p5 enters lead and MQL at its assignment instant; p6 has no `at` (it counts from the start).
ASSIGNMENTS = """
experiment_id,unit_id,variant,at
exp_conv,p1,a,2024-01-01 09:00:00
exp_conv,p2,b,2024-01-02 00:00:00
exp_conv,p3,a,2023-12-27 00:00:00
exp_conv,p4,b,2024-01-04 00:00:00
exp_conv,p5,b,2024-02-01 00:00:00
exp_conv,p6,a,
exp_opp,p1,a,2024-01-01 00:00:00
exp_opp,p2,a,2024-01-02 00:00:00
exp_opp,p3,b,2024-01-03 00:00:00
exp_opp,p6,b,2024-02-10 00:00:00
exp_value,p1,a,2024-01-01 00:00:00
exp_value,p2,a,2024-01-02 00:00:00
exp_value,p3,b,2024-01-03 00:00:00
exp_value,p6,b,2024-02-10 00:00:00
exp_pre,p1,a,2024-02-14 00:00:00
exp_pre,p2,a,2024-02-14 00:00:00
exp_pre,p5,b,2024-02-14 00:00:00
exp_pre,p6,b,2024-02-14 00:00:00
exp_acct,a1,a,2024-01-15 00:00:00
exp_acct,a2,b,2024-01-15 00:00:00
exp_acct,a3,b,2024-01-15 00:00:00
"""
REVENUE = """
account_id,at,amount,kind
a1,2024-03-01,1000,new
a2,2024-04-01,700,new
a2,2024-05-01,-100,contraction
a3,2025-02-01,50,new
"""


@pytest.fixture(scope="module")
def fixture_ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The awkward fixture company with five experiments' assignments and some revenue."""
    tmp = tmp_path_factory.mktemp("experiments")
    ws = Workspace.init(tmp / "ws", str(write(tmp / "plan.yaml", PLAN)))
    load_fixture(ws, tmp / "base")
    write(tmp / "more" / "assignments.csv", ASSIGNMENTS)
    write(tmp / "more" / "revenue.csv", REVENUE)
    ws.import_files([tmp / "more"])
    yield ws
    ws.close()


Frames = dict[str, pd.DataFrame]


def _outcome(t: Frames, e: Experiment, unit: str, lo: pd.Timestamp, hi: pd.Timestamp) -> float:
    """A unit's outcome over [lo, hi), computed row by row."""
    if e.metric.value == "revenue":
        r = t["revenue"]
        return float(r[(r.account_id == unit) & (r["at"] >= lo) & (r["at"] < hi)].amount.sum())
    opps = t["opportunities"]
    if e.metric.value == "won_amount":
        won = opps[(opps.person_id == unit) & (opps.status == "won") & opps.closed_at.notna()]
        return float(won[(won.closed_at >= lo) & (won.closed_at < hi)].amount.sum())
    stage = e.metric.conversion
    ids = {unit} if stage != "opportunity" else set(opps[opps.person_id == unit].opportunity_id)
    ev = t["stage_events"]
    hit = ev[ev.record_id.isin(ids) & (ev.stage == stage)]
    return float(((hit.entered_at >= lo) & (hit.entered_at < hi)).any())


def reference_sums(ws: Workspace, e: Experiment, as_of: pd.Timestamp) -> dict[str, dict[str, Any]]:
    """Per-variant sums, unit by unit in plain Python."""
    t = {n: ws.table(n) for n in ("revenue", "opportunities", "stage_events", "accounts")}
    employees = dict(zip(t["accounts"].account_id, t["accounts"].employees, strict=True))
    within = pd.Timedelta(days=int(e.metric.within[:-1]))
    units: list[tuple[str, bool, float, float]] = []
    for row in ws.table("assignments").to_dict("records"):
        if row["experiment_id"] != e.id:
            continue
        at = pd.Timestamp(e.start) if pd.isna(row["at"]) else pd.Timestamp(row["at"])
        if at > as_of:
            continue
        closed = at + within <= as_of
        y = _outcome(t, e, row["unit_id"], at, at + within) if closed else 0.0
        x = 0.0
        if e.covariate is not None and e.covariate.pre_period:
            pre = pd.Timedelta(days=int(e.covariate.pre_period[:-1]))
            x = _outcome(t, e, row["unit_id"], at - pre, at)
        elif e.covariate is not None:
            x = float(employees[row["unit_id"]])
        units.append((str(row["variant"]), closed, y, x))
    out: dict[str, dict[str, Any]] = {}
    for variant in sorted({u[0] for u in units}):
        mine = [u for u in units if u[0] == variant]
        ys = [u[2] for u in mine if u[1]]
        xs = [u[3] for u in mine if u[1]]
        out[variant] = {
            "assigned": len(mine),
            "units": len(ys),
            "total": sum(ys),
            "total_squares": sum(v * v for v in ys),
            "nonzero": sum(v != 0 for v in ys),
            "x_total": sum(xs),
            "x_total_squares": sum(v * v for v in xs),
            "xy_total": sum(a * b for a, b in zip(xs, ys, strict=True)),
        }
    return out


@pytest.mark.parametrize(
    "experiment_id", ["exp_conv", "exp_opp", "exp_value", "exp_pre", "exp_acct"]
)
@pytest.mark.parametrize("as_of", ["2025-06-01", "2024-02-05"])
def test_variant_sums_match_reference(
    fixture_ws: Workspace, experiment_id: str, as_of: str
) -> None:
    """The engine's per-variant sums equal a unit-by-unit reference (ties, nulls, boundaries)."""
    ws = fixture_ws
    e = next(x for x in ws.plan.experiments if x.id == experiment_id)
    moment = pd.Timestamp(as_of)
    engine = variant_sums(ws.tables(), ws.schema, ws.plan, e, moment).set_index("variant")
    ref = reference_sums(ws, e, moment)
    assert sorted(engine.index) == sorted(ref)
    for variant, expected in ref.items():
        got = engine.loc[variant].fillna(0)
        for key, value in expected.items():
            if key.startswith("x") and e.covariate is None:
                continue
            assert got[key] == pytest.approx(value), (variant, key)


def test_fixture_conversions_are_the_documented_ones(fixture_ws: Workspace) -> None:
    """exp_conv: in a only p1 converts (p3: boundary, p6: 42 days after the start); in b p2, p5."""
    ws = fixture_ws
    e = ws.plan.experiments[0]
    sums = variant_sums(ws.tables(), ws.schema, ws.plan, e, pd.Timestamp("2025-01-01"))
    totals = dict(zip(sums.variant, sums.total, strict=True))
    assert totals == {"a": 1.0, "b": 2.0}


def test_plan_rule_reports_each_experiment_problem(tmp_path: Path) -> None:
    """invalid-experiment flags an unknown initiative and stage, a missing control, bad dates."""
    bad = plan_text(
        [
            "id: exp_x, metric: {conversion: mqlx, within: 10d}, split: [1], end: 2024-02-29",
            "id: exp_y, metric: {value: revenue, within: 10d}, end: 2023-01-01",
            "id: exp_y, metric: {value: won_amount, within: 1d}, covariate: {column: colour}, "
            "end: 2024-02-29",
        ],
        common="initiative: ini_x, control: c",
    )
    columns = {f"{n}.{c.name}": c.type for n, table in TABLES.items() for c in table.columns}
    result = check_plan(write(tmp_path / "p.yaml", bad), PlanContext(columns))
    messages = [f.message for f in result.errors if f.rule == "invalid-experiment"]
    expected = [
        "unknown initiative 'ini_x'",
        "unknown stage 'mqlx'",
        "control 'c' is not among",
        "split needs one positive share per variant",
        "before it starts",
        "revenue is booked per account",
        "id 'exp_y' is used twice",
        "covariate 'colour' is not a numeric column of people",
    ]
    for text in expected:
        assert any(text in m for m in messages), (text, messages)
    assert all(f.line is not None for f in result.errors)


def test_plan_schema_requires_one_metric_kind(tmp_path: Path) -> None:
    """A metric with both conversion and value (or neither) is a schema error with a line."""
    for metric in ("{conversion: mql, value: won_amount, within: 1d}", "{within: 1d}"):
        result = check_plan(write(tmp_path / "p.yaml", plan_text([f"id: e, metric: {metric}"])))
        assert any("exactly one of `conversion`" in f.message and f.line for f in result.errors)


def test_analyze_experiment_applies_cuped_from_the_plan(fixture_ws: Workspace) -> None:
    """A plan covariate reaches the analysis: theta is cov(y, x) / var(x) over analysed units."""
    ws = fixture_ws
    result = analyze_experiment(ws.tables(), ws.schema, ws.plan, "exp_acct", "2025-06-01")
    assert result.cuped is not None and result.cuped.covariate == "employees"
    y = np.array([1000.0, 600.0, 0.0])  # a1 (a), a2 (b: 700 - 100), a3 (b: nothing in a year)
    x = np.array([500.0, 80.0, 20.0])
    assert result.cuped.theta == pytest.approx(np.cov(y, x)[0, 1] / np.var(x, ddof=1))
    assert result.method()["p_value"] == "Welch t-test"
