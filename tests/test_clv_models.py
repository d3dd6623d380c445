"""CLV models reproduce the published CDNOW and retention results and match plain references."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from missionline.demo.generator import generate_company, write_company
from missionline.errors import MissionlineError
from missionline.models.clv import (
    bgnbd,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    fit_sbg,
    fit_sbg_contracts,
    holdout_comparison,
    pareto_nbd,
    predict,
    summarise_transactions,
    workspace_contracts,
    workspace_summary,
)
from missionline.models.clv.simulate import CDNOW_BGNBD, simulate_bgnbd
from missionline.report.clv_section import clv_section
from missionline.workspace import Workspace

from conftest import load_fixture, write

# Fader, Hardie & Lee (2005) and Fader & Hardie (2005, 2013, 2007), to their published digits.
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PARETO_NBD = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "gamma": 15.44}
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491]
SBG = {"regular": (0.704, 1.182, -1680.3), "high end": (0.668, 3.806, -1611.2)}


@pytest.fixture(scope="module")
def cdnow(shared_data: Path) -> pd.DataFrame:
    """The published CDNOW calibration summary (x, t_x, T, mean repeat spend) of 2,357 buyers."""
    frame = pd.read_csv(shared_data / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    return frame.rename(
        columns={"ID": "customer_id", "x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
    )


@pytest.fixture(scope="module")
def cdnow_log(shared_data: Path) -> pd.DataFrame:
    """The CDNOW transaction log: customer (sample id), YYYYMMDD date and dollars."""
    names = ["id", "customer", "date", "cds", "dollars"]
    path = shared_data / "cdnow" / "CDNOW_sample.txt"
    return pd.read_csv(path, sep=r"\s+", header=None, names=names)


@pytest.fixture(scope="module")
def cdnow_holdout(cdnow_log: pd.DataFrame) -> pd.DataFrame:
    """CDNOW summarised by missionline: 39-week calibration, 39-week holdout to 1998-06-30."""
    return summarise_transactions(
        cdnow_log, "customer", "date", "dollars", "1997-09-30", "W", "1998-06-30"
    )


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow: pd.DataFrame) -> None:
    """BG/NBD on CDNOW: r, alpha, a, b and the log-likelihood to the published digits."""
    fit = fit_bgnbd(cdnow)
    assert fit.converged and fit.n_customers == 2357
    assert {k: round(v, 3) for k, v in fit.params.items()} == BGNBD
    assert round(fit.log_likelihood, 1) == -9582.4
    assert all(0 < (fit.std_errors[k] or 0) < v for k, v in fit.params.items())


def test_pareto_nbd_reproduces_the_published_cdnow_fit(cdnow: pd.DataFrame) -> None:
    """Pareto/NBD on CDNOW: r, alpha, s, beta to two decimals and the log-likelihood -9595.0."""
    fit = fit_pareto_nbd(cdnow)
    assert fit.converged
    assert {k: round(v, 2) for k, v in fit.params.items()} == PARETO_NBD
    assert round(fit.log_likelihood, 1) == -9595.0
    assert fit.log_likelihood >= -9594.98  # the note's optimum, -9594.98, is not beaten by it


def test_gamma_gamma_reproduces_the_published_cdnow_fit(cdnow_holdout: pd.DataFrame) -> None:
    """Gamma-Gamma on CDNOW's 946 repeat buyers (exact mean spend): p, q, gamma to two decimals."""
    # The summary file rounds mean spend to cents, which moves gamma to 15.45; the log does not.
    fit = fit_gamma_gamma(cdnow_holdout)
    assert fit.converged and fit.n_customers == 946
    assert {k: round(v, 2) for k, v in fit.params.items()} == GAMMA_GAMMA


@pytest.mark.parametrize(("cohort", "alive"), [("regular", REGULAR), ("high end", HIGH_END)])
def test_sbg_reproduces_the_published_retention_fits(cohort: str, alive: list[int]) -> None:
    """sBG on Fader & Hardie's (2007) seven years of survival: alpha, beta and LL as published."""
    fit = fit_sbg(pd.DataFrame({"period": range(len(alive)), "alive": alive}))
    alpha, beta, ll = SBG[cohort]
    assert fit.converged and fit.n_customers == 1000
    assert (round(fit.params["alpha"], 3), round(fit.params["beta"], 3)) == (alpha, beta)
    assert round(fit.log_likelihood, 1) == ll


def test_cdnow_log_summarises_to_the_published_summary(
    cdnow: pd.DataFrame, cdnow_holdout: pd.DataFrame
) -> None:
    """The CDNOW log gives the published x, t_x, T and mean repeat spend (to their rounding)."""
    mine = cdnow_holdout.set_index(cdnow_holdout["customer_id"].astype(int)).sort_index()
    theirs = cdnow.set_index("customer_id").sort_index()
    assert list(mine.index) == list(theirs.index)
    for column in ("frequency", "recency", "T", "monetary_value"):
        gap = np.abs(mine[column].fillna(0).to_numpy() - theirs[column].to_numpy())
        assert gap.max() <= 0.005 + 1e-9, column
    fit = fit_bgnbd(cdnow_holdout)  # the published fit, from the log as from the file
    assert {k: round(v, 3) for k, v in fit.params.items()} == BGNBD


def test_holdout_predictions_track_cdnow(cdnow_holdout: pd.DataFrame) -> None:
    """Calibration/holdout on CDNOW: the models predict the 39-week holdout within 15%."""
    actual = cdnow_holdout["holdout_frequency"].sum()
    assert actual == 1882  # purchase days in weeks 40-78 (1,959 transactions)
    for fit in (fit_bgnbd(cdnow_holdout), fit_pareto_nbd(cdnow_holdout)):
        table = holdout_comparison(fit, cdnow_holdout)
        assert table["customers"].sum() == 2357 and len(table) == 8
        assert table["calibration_repeat_purchases"].iloc[-1] == "7+"
        assert abs(table["predicted_total"].sum() / actual - 1) < 0.15
        assert table["predicted_mean"].is_monotonic_increasing


def reference_bgnbd(params: dict[str, float], x: float, t_x: float, T: float) -> float:
    """BG/NBD log-likelihood of one customer, written out from FHL (2005) eq. 6."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))

    def log_beta(u: float, v: float) -> float:
        return math.lgamma(u) + math.lgamma(v) - math.lgamma(u + v)

    common = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha)
    value = math.exp(log_beta(a, b + x) - log_beta(a, b) - (r + x) * math.log(alpha + T))
    if x > 0:
        value += math.exp(
            log_beta(a + 1, b + x - 1) - log_beta(a, b) - (r + x) * math.log(alpha + t_x)
        )
    return common + math.log(value)


def reference_pareto_nbd(params: dict[str, float], x: float, t_x: float, T: float) -> float:
    """Pareto/NBD log-likelihood as alive-at-T plus death in (t_x, T), integrated numerically."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    common = math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    alive = (alpha + T) ** -(r + x) * (beta + T) ** -s
    dead = integrate.quad(
        lambda u: (alpha + u) ** -(r + x) * (beta + u) ** -(s + 1), t_x, T, epsabs=0, epsrel=1e-12
    )[0]
    return common + math.log(alive + s * dead)


ROWS = [(0, 0.0, 38.86), (1, 1.71, 38.86), (2, 30.43, 38.86), (7, 20.0, 35.0), (29, 38.43, 38.86)]
PNBD_CASES = [
    {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67},  # alpha < beta
    {"r": 0.55, "alpha": 11.67, "s": 0.61, "beta": 10.58},  # alpha > beta
    {"r": 1.3, "alpha": 5.0, "s": 2.0, "beta": 5.0},  # alpha = beta
    {"r": 0.3, "alpha": 40.0, "s": 0.4, "beta": 0.01},  # z near 1
    {"r": 2.0, "alpha": 0.05, "s": 3.0, "beta": 30.0},
]


@pytest.mark.parametrize("params", [BGNBD, {"r": 2.0, "alpha": 0.5, "a": 3.0, "b": 0.7}])
def test_bgnbd_likelihood_matches_the_formula(params: dict[str, float]) -> None:
    """Each row's BG/NBD log-likelihood equals the formula written customer by customer."""
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*ROWS, strict=True))
    theta = np.array(list(params.values()))
    mine = bgnbd.log_likelihood(theta, x, t_x, T)
    expected = [reference_bgnbd(params, *row) for row in ROWS]
    np.testing.assert_allclose(mine, expected, rtol=1e-12)


def test_bgnbd_gradient_matches_finite_differences() -> None:
    """The analytic BG/NBD gradient equals central differences of the log-likelihood."""
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*ROWS, strict=True))
    weights = np.array([3.0, 1.0, 2.0, 1.0, 1.0])
    theta = np.array([0.4, 3.0, 1.5, 2.0])
    total, gradient = bgnbd.value_and_gradient(theta, x, t_x, T, weights)
    assert total == pytest.approx(float(weights @ bgnbd.log_likelihood(theta, x, t_x, T)))
    for i in range(4):
        step = np.zeros(4)
        step[i] = 1e-6 * theta[i]
        up = weights @ bgnbd.log_likelihood(theta + step, x, t_x, T)
        down = weights @ bgnbd.log_likelihood(theta - step, x, t_x, T)
        assert gradient[i] == pytest.approx((up - down) / (2 * step[i]), rel=1e-6)


@pytest.mark.parametrize("params", PNBD_CASES)
def test_pareto_nbd_likelihood_matches_the_integral(params: dict[str, float]) -> None:
    """The hypergeometric Pareto/NBD likelihood equals its integral form, alpha < beta or not."""
    x, t_x, T = (np.array(c, dtype=float) for c in zip(*ROWS, strict=True))
    mine = pareto_nbd.log_likelihood(np.array(list(params.values())), x, t_x, T)
    expected = [reference_pareto_nbd(params, *row) for row in ROWS]
    np.testing.assert_allclose(mine, expected, rtol=1e-9)


def reference_bgnbd_future(
    params: dict[str, float], x: float, t_x: float, T: float, t: float
) -> tuple[float, float]:
    """E[purchases in (T, T+t]] and P(alive) by integrating lambda out and p numerically."""
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    p = stats.beta(a, b)

    def mean(f: Callable[[float], float]) -> float:
        """E[f(p)] under the Beta(a, b) dropout law."""
        weighted = integrate.quad(
            lambda q: f(q) * p.pdf(q), 0, 1, epsabs=0, epsrel=1e-11, limit=200
        )
        return float(weighted[0])

    alive = (alpha + T) ** -(r + x) * mean(lambda q: (1 - q) ** x)
    dead = (alpha + t_x) ** -(r + x) * mean(lambda q: q * (1 - q) ** (x - 1)) if x else 0.0
    future = mean(
        lambda q: (1 - q) ** x / q * ((alpha + T) ** -(r + x) - (alpha + T + q * t) ** -(r + x))
    )
    return future / (alive + dead), alive / (alive + dead)


def reference_pareto_nbd_future(
    params: dict[str, float], x: float, t_x: float, T: float, t: float
) -> tuple[float, float]:
    """E[purchases in (T, T+t]] and P(alive): rate integrated out, death rate numerically."""
    r, alpha, s, beta = (params[k] for k in ("r", "alpha", "s", "beta"))
    likelihood = math.exp(reference_pareto_nbd(params, x, t_x, T))
    common = math.exp(
        math.lgamma(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta)
    )
    alive = common * (alpha + T) ** -(r + x) * (beta + T) ** -s
    mu = stats.gamma(s, scale=1 / beta)
    per_death_rate = integrate.quad(
        lambda m: math.exp(-m * T) * -math.expm1(-m * t) / m * mu.pdf(m), 0, np.inf, epsrel=1e-11
    )[0]
    rate = math.exp(math.lgamma(r + x + 1) - math.lgamma(r) + r * math.log(alpha))
    future = rate * (alpha + T) ** -(r + x + 1) * per_death_rate
    return future / likelihood, alive / likelihood


@pytest.mark.parametrize("row", ROWS[:4])
def test_conditional_predictions_match_numerical_integration(
    row: tuple[float, float, float],
) -> None:
    """Expected purchases in the next 39 weeks and P(alive) match integrals over the mixing laws."""
    x, t_x, T = (np.array([v], dtype=float) for v in row)
    for module, params, reference in (
        (bgnbd, BGNBD, reference_bgnbd_future),
        (pareto_nbd, PNBD_CASES[0], reference_pareto_nbd_future),
    ):
        future, alive = reference(params, *row, 39.0)
        assert module.expected_purchases(params, x, t_x, T, 39.0)[0] == pytest.approx(
            future, rel=1e-7
        )
        assert module.p_alive(params, x, t_x, T)[0] == pytest.approx(alive, rel=1e-7)


def test_bgnbd_recovers_simulated_parameters() -> None:
    """On 50,000 customers drawn from the CDNOW parameters, each estimate is within 3 SE."""
    fit = fit_bgnbd(simulate_bgnbd(50_000, seed=5))
    assert fit.converged
    for name, truth in CDNOW_BGNBD.items():
        error = fit.std_errors[name]
        assert error is not None and abs(fit.params[name] - truth) <= 3 * error, name


def test_predict_discounts_and_prices_future_purchases(cdnow: pd.DataFrame) -> None:
    """CLV = margin * expected spend * purchases per week discounted at the annual rate."""
    purchases, spend = fit_bgnbd(cdnow), fit_gamma_gamma(cdnow)
    plain = predict(purchases, cdnow, 10, spend)
    assert list(plain.columns) == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "expected_purchases",
        "p_alive",
        "expected_spend",
        "clv",
    ]
    np.testing.assert_allclose(plain["clv"], plain["expected_spend"] * plain["expected_purchases"])
    discounted = predict(purchases, cdnow, 10, spend, discount_rate=0.1, margin=0.3)
    x, t_x, T = (cdnow[c].to_numpy(dtype=float) for c in ("frequency", "recency", "T"))
    weeks = [bgnbd.expected_purchases(purchases.params, x, t_x, T, w) for w in range(11)]
    value = sum((weeks[w] - weeks[w - 1]) * 1.1 ** -(w * 7 / 365.25) for w in range(1, 11))
    np.testing.assert_allclose(discounted["clv"], 0.3 * plain["expected_spend"] * value, rtol=1e-12)
    p, q, gamma = spend.params.values()
    first = plain.iloc[0]
    expected = p * (gamma + first["frequency"] * cdnow["monetary_value"].iloc[0])
    assert first["expected_spend"] == pytest.approx(expected / (p * first["frequency"] + q - 1))
    without = predict(purchases, cdnow, 10)
    assert without["clv"].isna().all() and without["expected_spend"].isna().all()


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("frequency", "-1", "expected a whole number >= 0"),
        ("frequency", "1.5", "expected a whole number >= 0"),
        ("recency", "50", "recency is greater than T"),
        ("T", "abc", "not a number"),
        ("recency", None, "missing value"),
    ],
)
def test_summary_problems_name_the_row_and_column(
    column: str, value: str | None, expected: str
) -> None:
    """A bad cell in a summary raises an error naming its row, its column and what was expected."""
    frame = pd.DataFrame(
        {"frequency": ["2", "0", "3"], "recency": ["10", "0", "5"], "T": ["30", "30", "30"]},
        dtype=object,
    )
    frame.loc[2, column] = value
    with pytest.raises(MissionlineError) as error:
        fit_bgnbd(frame)
    rendered = error.value.render()
    assert "row 2" in rendered and expected in rendered and column in rendered


def test_survival_problems_are_refused() -> None:
    """A survival table must start at period 0 and never gain customers."""
    with pytest.raises(MissionlineError, match="invalid values"):
        fit_sbg(pd.DataFrame({"period": [0, 1, 2], "alive": [100, 80, 90]}))
    with pytest.raises(MissionlineError, match="invalid values"):
        fit_sbg(pd.DataFrame({"period": [1, 2], "alive": [100, 80]}))
    with pytest.raises(MissionlineError, match="nobody churned"):
        fit_sbg(pd.DataFrame({"period": [0, 1], "alive": [100, 100]}))


LOG = """
customer,when,amount
c1,2024-01-01,10
c1,2024-01-01 18:30,5
c1,20240110,0
c1,2024/01/20,7
c1,2024-02-15,100
c2,2024-01-31,3
c2,2024-02-20,4
c3,2024-02-01,8
c4,2024-02-02,9
"""


def reference_summary(
    rows: list[tuple[str, str, float]], end: str, holdout: str, unit: float
) -> dict[str, tuple[float, ...]]:
    """A plain-Python summary: purchase days per customer, calibration up to ``end``."""
    days: dict[str, dict[pd.Timestamp, float]] = {}
    for customer, when, amount in rows:
        day = pd.Timestamp(when.replace("/", "-")).normalize()
        days.setdefault(customer, {})
        days[customer][day] = days[customer].get(day, 0.0) + amount
    out: dict[str, tuple[float, ...]] = {}
    for customer, spend in days.items():
        calibration = sorted(d for d in spend if d <= pd.Timestamp(end))
        if not calibration:
            continue
        first, last = calibration[0], calibration[-1]
        repeat = [spend[d] for d in calibration[1:]]
        later = [d for d in spend if pd.Timestamp(end) < d <= pd.Timestamp(holdout)]
        out[customer] = (
            len(calibration) - 1.0,
            (last - first).days / unit,
            (pd.Timestamp(end) - first).days / unit,
            sum(repeat) / len(repeat) if repeat else math.nan,
            float(len(later)),
        )
    return out


@pytest.mark.parametrize("unit", ["W", "D"])
def test_transactions_summarise_like_the_reference(tmp_path: Path, unit: str) -> None:
    """Same-day transactions merge, later ones are holdout, late first buyers are left out."""
    frame = pd.read_csv(write(tmp_path / "log.csv", LOG), dtype=str)
    summary = summarise_transactions(
        frame, "customer", "when", "amount", "2024-02-01", unit, "2024-02-20"
    )
    rows = [(c, w, float(a)) for c, w, a in frame.itertuples(index=False)]
    expected = reference_summary(rows, "2024-02-01", "2024-02-20", 7.0 if unit == "W" else 1.0)
    columns = ["frequency", "recency", "T", "monetary_value", "holdout_frequency"]
    mine = {r.customer_id: tuple(getattr(r, c) for c in columns) for r in summary.itertuples()}
    assert mine.keys() == expected.keys() == {"c1", "c2", "c3"}
    for customer, values in expected.items():
        np.testing.assert_allclose(mine[customer], values, equal_nan=True)
    assert (summary["holdout_duration"] == 19 / (7 if unit == "W" else 1)).all()


def test_transactions_with_bad_dates_or_amounts_are_refused() -> None:
    """A date or an amount that cannot be read is reported with its row and column."""
    frame = pd.DataFrame({"c": ["a", "b"], "d": ["2024-01-01", "31/01/2024"], "v": ["1", "2"]})
    with pytest.raises(MissionlineError) as error:
        summarise_transactions(frame, "c", "d", "v", "2024-02-01")
    assert "'31/01/2024' is not a date" in error.value.render()
    frame["d"] = "2024-01-01"
    frame.loc[1, "v"] = "-5"
    with pytest.raises(MissionlineError, match="invalid amounts"):
        summarise_transactions(frame, "c", "d", "v", "2024-02-01")


REVENUE = """
account_id,at,amount,kind
a1,2024-01-10 09:00:00,1000,new
a1,2024-01-10 09:00:00,200,purchase
a1,2024-02-10 00:00:00,300,purchase
a1,2024-03-10 09:00:00,100,purchase
a1,2024-03-10 15:00:00,50,purchase
a1,2024-04-01 00:00:00,-100,contraction
a1,2024-05-01 00:00:00,900,renewal
a2,2024-02-01 00:00:00,500,new
a2,2024-02-15 00:00:00,0,expansion
a2,2024-06-01 00:00:00,-500,churn
a3,2024-06-15 12:00:00,70,purchase
"""


def test_workspace_summary_counts_positive_purchase_revenue(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Accounts' purchases are positive new/expansion/renewal/purchase revenue, per day."""
    load_fixture(workspace, tmp_path / "base")
    write(tmp_path / "rev" / "revenue.csv", REVENUE)
    workspace.import_files([tmp_path / "rev"])
    summary = workspace_summary(workspace.tables(), time_unit="D").set_index("customer_id")
    revenue = pd.read_csv(tmp_path / "rev" / "revenue.csv")
    bought = revenue[
        (revenue["amount"] > 0) & revenue["kind"].isin(["new", "expansion", "renewal", "purchase"])
    ]
    rows = list(bought[["account_id", "at", "amount"]].itertuples(index=False, name=None))
    expected = reference_summary(rows, "2024-06-15", "2024-06-15", 1.0)
    assert set(summary.index) == set(expected)
    for account, values in expected.items():
        mine = summary.loc[account, ["frequency", "recency", "T", "monetary_value"]].to_numpy(
            dtype=float
        )
        np.testing.assert_allclose(mine, values[:4], equal_nan=True)
    contracts = workspace_contracts(workspace.tables()).set_index("customer_id")
    assert contracts.loc["a1"].tolist() == [1, False] and contracts.loc["a2"].tolist() == [0, True]
    section = clv_section(workspace)
    assert not section.charts and "bought more than once" in section.reading


def test_empty_workspace_has_no_summary_and_a_reading_saying_why(workspace: Workspace) -> None:
    """Without purchases the summary is refused and the report section says why."""
    with pytest.raises(MissionlineError, match="no purchases"):
        workspace_summary(workspace.tables())
    section = clv_section(workspace)
    assert section.rows == [] and "no purchases" in section.reading


def test_fits_without_an_interior_maximum_say_so() -> None:
    """Data with no dropout put the BG/NBD maximum on a bound: not converged, no standard errors."""
    steady = pd.DataFrame(
        {"frequency": [5.0, 5.0, 4.0, 6.0], "recency": [30.0, 29.0, 28.0, 30.0], "T": [30.0] * 4}
    )
    fit = fit_bgnbd(steady)
    assert not fit.converged and set(fit.std_errors.values()) == {None}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, dict]]:
    """A 20,000-lead demo company imported into a workspace, with its truth."""
    folder = tmp_path_factory.mktemp("clv_demo")
    company = generate_company(leads=20_000, seed=7)
    write_company(company, folder / "data")
    ws = Workspace.init(folder / "ws", "demo")
    ws.import_files([folder / "data"])
    yield ws, company.truth
    ws.close()


def test_sbg_recovers_the_demo_churn_probability(demo: tuple[Workspace, dict]) -> None:
    """The sBG's first-period churn alpha/(alpha+beta) is within 3 SE of the demo's true churn."""
    ws, truth = demo
    contracts = workspace_contracts(ws.tables())
    fit = fit_sbg_contracts(contracts)
    churn = fit.params["alpha"] / (fit.params["alpha"] + fit.params["beta"])
    reached = contracts[(contracts["periods"] > 0) | contracts["churned"]]
    segments = ws.table("accounts").set_index("account_id")["segment"]
    by_segment = truth["churn"]["annual_probability_by_segment"]
    expected = float(reached["customer_id"].map(segments).map(by_segment).mean())
    error = math.sqrt(expected * (1 - expected) / len(reached))
    assert abs(churn - expected) <= 3 * error


def test_clv_section_reads_the_demo_values(demo: tuple[Workspace, dict]) -> None:
    """The report section shows the CLV distribution and states the numbers it is drawn from."""
    ws, _ = demo
    section = clv_section(ws)
    assert len(section.charts) == 2 and len(section.rows) == 20
    values = [float(str(row["clv"])) for row in section.rows]
    assert values == sorted(values, reverse=True) and all(v > 0 for v in values)
    buyers = len(workspace_summary(ws.tables()))
    assert f"the {buyers:,} buying accounts" in section.reading and "top 10%" in section.reading
