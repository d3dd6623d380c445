"""Attribution models against brute force, hand-built paths and published worked examples."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from missionline.errors import MissionlineError
from missionline.models.attribution import (
    MODELS,
    Paths,
    attribute,
    compare_models,
    initiative_roi,
    read_paths_csv,
    workspace_paths,
)
from missionline.models.attribution import markov as markov_module
from missionline.models.attribution.markov import build_chain, removal_effects
from missionline.models.attribution.shapley import exact_shapley
from missionline.workspace import Workspace

from conftest import load_fixture, write

Row = tuple[list[str], float, float]  # (channels, conversions, journeys without conversion)


# --- independent references ---------------------------------------------------------------


def reference_weights(
    n: int, model: str, lead: int = -1, opp: int = -1, days: list[float] | None = None
) -> list[float]:
    """Touch weights of one path, written out case by case in plain Python."""
    if model == "first_touch":
        return [1.0] + [0.0] * (n - 1)
    if model == "last_touch":
        return [0.0] * (n - 1) + [1.0]
    if model == "linear":
        return [1.0 / n] * n
    if model == "time_decay":
        raw = [2 ** (-d / 7.0) for d in days or []]
        return [r / sum(raw) for r in raw]
    milestones = {
        "u_shaped": [(0, 0.4), (n - 1, 0.4)],
        "w_shaped": [(0, 0.3), (lead, 0.3), (opp, 0.3)],
        "full_path": [(0, 0.225), (lead, 0.225), (opp, 0.225), (n - 1, 0.225)],
    }[model]
    rest = 0.2 if model == "u_shaped" else 0.1
    weights = [0.0] * n
    marked = set()
    for index, share in milestones:
        if index >= 0:
            weights[index] += share
            marked.add(index)
    others = [i for i in range(n) if i not in marked]
    for i in others:
        weights[i] += rest / len(others)
    return [w / sum(weights) for w in weights]


def reference_chain(rows: list[Row], order: int) -> dict[object, dict[object, float]]:
    """Transition counts from (start) through states (tuples of last channels) to the ends."""
    counts: dict[object, dict[object, float]] = defaultdict(lambda: defaultdict(float))
    for path, conversions, nulls in rows:
        first = min(order, len(path)) - 1
        states = [tuple(path[max(0, i - order + 1) : i + 1]) for i in range(first, len(path))]
        previous: object = "start"
        for state in states:
            counts[previous][state] += conversions + nulls
            previous = state
        counts[previous]["conversion"] += conversions
        counts[previous]["null"] += nulls
    return counts


def reference_absorption(rows: list[Row], order: int, removed: str | None = None) -> float:
    """P(conversion) by pushing probability mass through the chain until none is left."""
    counts = reference_chain(rows, order)
    mass: dict[object, float] = {"start": 1.0}
    converted = 0.0
    for _ in range(100_000):
        moved: dict[object, float] = defaultdict(float)
        for state, amount in mass.items():
            total = sum(counts[state].values())
            for target, count in counts[state].items():
                share = amount * count / total
                if target == "conversion":
                    converted += share
                elif target != "null" and not (removed and removed in target):  # type: ignore[operator]
                    moved[target] += share
        mass = moved
        if sum(mass.values()) < 1e-15:
            return converted
    raise AssertionError("the chain did not drain")


def paths_of(rows: list[Row], values: list[float] | None = None) -> Paths:
    """Paths from reference rows."""
    return Paths.from_lists(
        [r[0] for r in rows], [r[1] for r in rows], values, [r[2] for r in rows]
    )


def random_rows(seed: int, channels: int, count: int, longest: int = 5) -> list[Row]:
    """Random small journeys with conversions and non-conversions."""
    rng = np.random.default_rng(seed)
    names = [f"c{i}" for i in range(channels)]
    rows = []
    for _ in range(count):
        length = int(rng.integers(1, longest + 1))
        path = [names[int(k)] for k in rng.integers(0, channels, length)]
        conversions = float(rng.integers(0, 4))
        rows.append((path, conversions, float(rng.integers(0, 4)) + (conversions == 0)))
    return rows


def coalition_value(rows: list[Row], members: set[str], rate: bool) -> float:
    """v(S): conversions (or the conversion rate) of the paths whose channels all lie in S."""
    inside = [r for r in rows if set(r[0]) <= members]
    conversions = sum(r[1] for r in inside)
    if not rate:
        return conversions
    journeys = sum(r[1] + r[2] for r in inside)
    return conversions / journeys if journeys else 0.0


def permutation_shapley(rows: list[Row], rate: bool) -> dict[str, float]:
    """Average each channel's marginal contribution over every order of the channels."""
    channels = sorted({c for r in rows for c in r[0]})
    totals = dict.fromkeys(channels, 0.0)
    orders = list(itertools.permutations(channels))
    for order in orders:
        members: set[str] = set()
        before = 0.0
        for channel in order:
            members.add(channel)
            after = coalition_value(rows, members, rate)
            totals[channel] += after - before
            before = after
    return {c: t / len(orders) for c, t in totals.items()}


def credit(paths: Paths, model: str, **options: object) -> dict[str, float]:
    """Conversions credited per channel, as a dict."""
    frame = attribute(paths, model, **options).channels  # type: ignore[arg-type]
    return dict(zip(frame["channel"], frame["conversions"], strict=True))


# --- rule-based models --------------------------------------------------------------------

HAND = Paths.from_lists(
    [["A", "B", "C", "D", "E"], ["B"], ["C", "A"], ["A", "B", "A"], ["D", "E"]],
    conversions=[1, 1, 1, 1, 0],
    value=[100, 40, 10, 30, 0],
    nulls=[0, 0, 0, 0, 3],
    days=[[30, 14, 7, 1, 0], [0], [3, 0], [21, 7, 0], [5, 1]],
    lead_touch=[1, 0, 0, -1, 0],
    opportunity_touch=[2, 0, 1, -1, 1],
)


def test_rule_weights_on_the_five_touch_path() -> None:
    """Five touches get the PRODUCT.md weights: U 40/20/40, W 30/30/30/10, full path 22.5s/10."""
    only = Paths.from_lists(
        [["A", "B", "C", "D", "E"]],
        [1],
        days=[[30, 14, 7, 1, 0]],
        lead_touch=[1],
        opportunity_touch=[2],
    )
    expected = {
        "first_touch": [1, 0, 0, 0, 0],
        "last_touch": [0, 0, 0, 0, 1],
        "linear": [0.2] * 5,
        "u_shaped": [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4],
        "w_shaped": [0.3, 0.3, 0.3, 0.05, 0.05],
        "full_path": [0.225, 0.225, 0.225, 0.1, 0.225],
    }
    for model, weights in expected.items():
        got = credit(only, model)
        assert [got[c] for c in "ABCDE"] == pytest.approx(weights), model
    decay = [2 ** (-d / 7) for d in (30, 14, 7, 1, 0)]
    got = credit(only, "time_decay")
    assert [got[c] for c in "ABCDE"] == pytest.approx([d / sum(decay) for d in decay])


def test_rules_match_the_reference_on_hand_built_paths() -> None:
    """Every rule-based model credits what the case-by-case reference does, repeats included."""
    lists = [["A", "B", "C", "D", "E"], ["B"], ["C", "A"], ["A", "B", "A"], ["D", "E"]]
    days = [[30, 14, 7, 1, 0], [0], [3, 0], [21, 7, 0], [5, 1]]
    leads, opps = [1, 0, 0, -1, 0], [2, 0, 1, -1, 1]
    conversions, values = [1, 1, 1, 1, 0], [100, 40, 10, 30, 0]
    for model in (
        "first_touch",
        "last_touch",
        "linear",
        "u_shaped",
        "w_shaped",
        "full_path",
        "time_decay",
    ):
        expected: dict[str, float] = defaultdict(float)
        expected_value: dict[str, float] = defaultdict(float)
        for path, d, lead, opp, conv, value in zip(
            lists, days, leads, opps, conversions, values, strict=True
        ):
            for channel, w in zip(
                path, reference_weights(len(path), model, lead, opp, d), strict=True
            ):
                expected[channel] += w * conv
                expected_value[channel] += w * value
        frame = attribute(HAND, model).channels.set_index("channel")
        for channel in "ABCDE":
            assert frame.loc[channel, "conversions"] == pytest.approx(expected[channel]), model
            assert frame.loc[channel, "value"] == pytest.approx(expected_value[channel]), model


def test_short_paths_and_missing_milestones() -> None:
    """One touch takes all; two touches split 50/50 (U) or 2/3-1/3 (W, lead on the first)."""
    one = Paths.from_lists([["A"]], [1], days=[[2]], lead_touch=[-1], opportunity_touch=[-1])
    for model in (
        "first_touch",
        "last_touch",
        "linear",
        "u_shaped",
        "w_shaped",
        "full_path",
        "time_decay",
    ):
        assert credit(one, model) == {"A": pytest.approx(1.0)}
    two = Paths.from_lists([["A", "B"]], [1], lead_touch=[0], opportunity_touch=[1])
    assert credit(two, "u_shaped") == {"A": pytest.approx(0.5), "B": pytest.approx(0.5)}
    assert credit(two, "w_shaped") == {"A": pytest.approx(2 / 3), "B": pytest.approx(1 / 3)}
    no_milestones = Paths.from_lists(
        [["A", "B", "C"]], [1], lead_touch=[-1], opportunity_touch=[-1]
    )
    got = credit(no_milestones, "w_shaped")
    assert [got[c] for c in "ABC"] == pytest.approx([0.75, 0.125, 0.125])


def test_time_decay_half_life_and_far_touches() -> None:
    """A touch one half-life earlier weighs half; touches years back do not underflow to NaN."""
    paths = Paths.from_lists([["A", "B"]], [1], days=[[14, 0]])
    got = credit(paths, "time_decay", half_life_days=14)
    assert got["A"] == pytest.approx(1 / 3)
    old = Paths.from_lists([["A", "B"]], [1], days=[[9000, 8000]])
    got = credit(old, "time_decay")
    assert got["B"] == pytest.approx(1.0) and math.isfinite(got["A"])
    with pytest.raises(MissionlineError, match="half-life"):
        attribute(paths, "time_decay", half_life_days=0)


def test_file_paths_refuse_models_that_need_times_or_milestones() -> None:
    """w_shaped, full_path and time_decay need workspace journeys; compare_models skips them."""
    paths = paths_of([(["A", "B"], 1, 0)])
    for model in ("w_shaped", "full_path", "time_decay"):
        with pytest.raises(MissionlineError, match="paths file"):
            attribute(paths, model)
    assert list(compare_models(paths).columns) == [
        "channel",
        "first_touch",
        "last_touch",
        "linear",
        "u_shaped",
        "markov",
        "shapley",
    ]
    with pytest.raises(MissionlineError, match="unknown attribution model"):
        attribute(paths, "magic")


# --- Markov --------------------------------------------------------------------------------


def test_markov_classic_three_path_example() -> None:
    """C1>C2>C3 converts, C1 and C2>C3 do not.

    By hand: start goes to C1 with 2/3 and to C2 with 1/3; C1 goes on to C2 or stops (1/2
    each); C2 always goes to C3; C3 converts with 1/2. P(conv) = 2/3·1/2·1/2 + 1/3·1/2 = 1/3.
    Without C1: 1/3·1/2 = 1/6, so RE(C1) = 1 - (1/6)/(1/3) = 0.5; without C2 or C3 nothing
    converts, RE = 1. Shares 0.5 : 1 : 1 give 0.2, 0.4, 0.4 of the one conversion, as in the
    ChannelAttribution documentation and Anderl et al.'s illustration.
    """
    rows = [(["C1", "C2", "C3"], 1.0, 0.0), (["C1"], 0.0, 1.0), (["C2", "C3"], 0.0, 1.0)]
    result = attribute(paths_of(rows), "markov")
    assert result.removal_effects == pytest.approx({"C1": 0.5, "C2": 1.0, "C3": 1.0})
    assert credit(paths_of(rows), "markov") == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4})


def test_markov_published_google_ads_and_mailing_example() -> None:
    """Puzyrov (2019), serhiipuzyrov.com "Markov chain attribution - simple explanation of
    removal effect": google ads twice converting, mailing converting, google ads > mailing
    converting, google ads not converting.

    start→google ads 0.8, start→mailing 0.2; google ads→conv 0.5, →mailing 0.25, →null 0.25;
    mailing→conv 1. P(conv) = 0.8·(0.5 + 0.25) + 0.2 = 0.8. Without google ads: 0.2, RE 0.75;
    without mailing: 0.8·0.5 = 0.4, RE 0.5. The 4 conversions split 0.75 : 0.5 = 2.4 : 1.6.
    """
    rows = [
        (["google ads"], 2.0, 1.0),
        (["mailing"], 1.0, 0.0),
        (["google ads", "mailing"], 1.0, 0.0),
    ]
    result = attribute(paths_of(rows), "markov")
    assert result.removal_effects == pytest.approx({"google ads": 0.75, "mailing": 0.5})
    assert credit(paths_of(rows), "markov") == pytest.approx({"google ads": 2.4, "mailing": 1.6})


def test_markov_repeats_and_higher_order() -> None:
    """Repeats are kept; order 1 equals the hand solution, order 2 remembers (A, A).

    Order 1 (self-loops drop out): x_A = 1/6 + x_B/3 and x_B = 1/3 + x_A/3, so x_A = 5/16,
    x_B = 7/16 and P = (x_A + x_B)/2 = 0.375 = 6/16, the observed rate. Without A: 1/6 ->
    RE(A) = 5/9; without B: 1/12 -> RE(B) = 7/9. (ChannelAttribution 2.2.5 simulates 0.534 and
    0.765: its simulated paths stop after the longest observed path.) Order 2: RE(A) = 5/6.
    """
    rows = [
        (["A", "A", "B"], 3.0, 1.0),
        (["A"], 0.0, 4.0),
        (["B", "B", "B", "A"], 2.0, 2.0),
        (["B"], 1.0, 3.0),
    ]
    assert attribute(paths_of(rows), "markov").removal_effects == pytest.approx(
        {"A": 5 / 9, "B": 7 / 9}
    )
    assert attribute(paths_of(rows), "markov", order=2).removal_effects == pytest.approx(
        {"A": 5 / 6, "B": 1.0}
    )


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_markov_exact_solution_matches_brute_force(order: int, seed: int) -> None:
    """P(conversion) and every removal effect equal the mass-pushing reference on small chains."""
    rows = random_rows(seed, channels=4, count=25)
    paths = paths_of(rows)
    chain = build_chain(paths, order)
    result = removal_effects(chain, len(paths.channels), order)
    base = reference_absorption(rows, order)
    assert result.conversion_probability == pytest.approx(base, abs=1e-12)
    for c, name in enumerate(paths.channels):
        expected = 1 - reference_absorption(rows, order, removed=name) / base
        assert result.removal_effects[c] == pytest.approx(expected, abs=1e-10)


def test_markov_conversion_probability_is_the_observed_rate() -> None:
    """A chain estimated from counts converts at the data's rate, at every order (flow balance)."""
    rows = random_rows(7, channels=5, count=60, longest=8)
    paths = paths_of(rows)
    observed = sum(r[1] for r in rows) / sum(r[1] + r[2] for r in rows)
    for order in (1, 2, 3, 4):
        chain = build_chain(paths, order)
        result = removal_effects(chain, len(paths.channels), order)
        assert result.conversion_probability == pytest.approx(observed, rel=1e-10)


def test_markov_iterative_solve_agrees_with_the_direct_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large chains are solved by BiCGSTAB; on a small chain forced that way it agrees with LU."""
    rows = random_rows(11, channels=6, count=400, longest=10)
    values = [float(i % 7) * 10 for i in range(len(rows))]
    direct = attribute(paths_of(rows, values), "markov", order=3)
    monkeypatch.setattr(markov_module, "DIRECT_STATES", 1)
    iterative = attribute(paths_of(rows, values), "markov", order=3)
    pd.testing.assert_frame_equal(direct.channels, iterative.channels, rtol=1e-9)
    assert iterative.removal_effects == pytest.approx(direct.removal_effects, rel=1e-9)


def test_markov_value_follows_the_value_weighted_chain() -> None:
    """With one value per conversion, value shares equal conversion shares; value sums to total."""
    rows = random_rows(5, channels=4, count=30)
    paths = paths_of(rows, [r[1] * 50.0 for r in rows])
    frame = attribute(paths, "markov").channels
    assert frame["value"].to_numpy() == pytest.approx(frame["conversions"].to_numpy() * 50)
    skewed = paths_of(rows, [r[1] * (10.0 if "c0" in r[0] else 1.0) for r in rows])
    frame = attribute(skewed, "markov").channels
    assert frame["value"].sum() == pytest.approx(skewed.value.sum())
    share = frame.set_index("channel")["value"] / frame["value"].sum()
    assert (
        share["c0"] > frame.set_index("channel")["conversions"]["c0"] / frame["conversions"].sum()
    )


def test_markov_order_is_checked() -> None:
    """Orders outside 1 to 4 are refused."""
    with pytest.raises(MissionlineError, match="order must be 1 to 4"):
        attribute(paths_of([(["A"], 1, 0)]), "markov", order=5)


# --- Shapley -------------------------------------------------------------------------------


def test_shapley_hand_example() -> None:
    """A 10, B 5, A>B 6, A>B>C 3, C 2 conversions: φ(A) = 10 + 6/2 + 3/3 = 14, φ(B) = 5 + 3 + 1
    = 9, φ(C) = 1 + 2 = 3 (Zhao et al. 2018's simplified formula: split evenly per path)."""
    rows = [
        (["A"], 10.0, 0.0),
        (["B"], 5.0, 0.0),
        (["A", "B"], 6.0, 0.0),
        (["A", "B", "C"], 3.0, 0.0),
        (["C"], 2.0, 0.0),
    ]
    assert credit(paths_of(rows), "shapley") == pytest.approx({"A": 14, "B": 9, "C": 3})


def test_shapley_conversion_rate_hand_example() -> None:
    """A: 1 of 2 converts, B: 0 of 2, A>B: 2 of 2. v(A) = 1/2, v(B) = 0, v(AB) = 3/6.

    φ(A) = (v(A) - 0)/2 + (v(AB) - v(B))/2 = 1/2, φ(B) = (0 - 0)/2 + (1/2 - 1/2)/2 = 0; the 6
    journeys times φ credit 3 conversions to A and none to B.
    """
    rows = [(["A"], 1.0, 1.0), (["B"], 0.0, 2.0), (["A", "B"], 2.0, 0.0)]
    got = credit(paths_of(rows), "shapley", value_function="conversion_rate")
    assert got == pytest.approx({"A": 3.0, "B": 0.0})


@pytest.mark.parametrize("rate", [False, True])
def test_shapley_matches_the_permutation_average(rate: bool) -> None:
    """Exact Shapley values equal the average over all 120 orders of five channels."""
    rows = random_rows(3, channels=5, count=30, longest=4)
    paths = paths_of(rows)
    expected = permutation_shapley(rows, rate)
    journeys = sum(r[1] + r[2] for r in rows)
    scale = journeys if rate else 1.0
    options = {"value_function": "conversion_rate"} if rate else {}
    got = credit(paths, "shapley", **options)
    assert got == pytest.approx({c: v * scale for c, v in expected.items()}, abs=1e-9)


def test_exact_shapley_on_a_textbook_game() -> None:
    """The glove game (player 0 holds a left glove, 1 and 2 right ones): φ = (2/3, 1/6, 1/6)."""
    worth = np.zeros(8)
    for mask in range(8):
        worth[mask] = 1.0 if mask & 1 and mask & 6 else 0.0
    assert exact_shapley(worth, 3) == pytest.approx([2 / 3, 1 / 6, 1 / 6])


def test_sampled_shapley_is_within_its_stated_error() -> None:
    """Forced to sample, the conversion-rate Shapley values fall within 4 standard errors."""
    rows = random_rows(9, channels=7, count=80, longest=4)
    paths = paths_of(rows)
    exact = attribute(paths, "shapley", value_function="conversion_rate")
    sampled = attribute(
        paths, "shapley", value_function="conversion_rate", max_exact_channels=3, samples=3000
    )
    assert sampled.standard_errors is not None and exact.standard_errors is None
    errors = np.array([sampled.standard_errors[c] for c in paths.channels])
    gap = np.abs(sampled.channels["conversions"] - exact.channels["conversions"]).to_numpy()
    assert (errors > 0).all() and (gap <= 4 * errors).all()
    # Every order's marginal contributions add up to v(all): the total is exact anyway.
    assert sampled.channels["conversions"].sum() == pytest.approx(paths.conversions.sum())
    assert "standard_errors" in sampled.to_json()


def test_sixteen_channels_are_sampled_by_default() -> None:
    """Beyond 15 channels the conversion-rate game is sampled; the conversions game stays exact."""
    rows = random_rows(4, channels=16, count=200, longest=3)
    paths = paths_of(rows)
    assert len(paths.channels) == 16
    rate = attribute(paths, "shapley", value_function="conversion_rate", samples=200)
    assert rate.standard_errors is not None
    assert attribute(paths, "shapley").standard_errors is None


# --- every model ---------------------------------------------------------------------------


def test_every_model_credits_the_total() -> None:
    """Conversions and value credited by every model sum to the paths' totals; JSON contract."""
    for model in MODELS:
        result = attribute(HAND, model)
        assert result.channels["conversions"].sum() == pytest.approx(4.0), model
        assert result.channels["value"].sum() == pytest.approx(180.0), model
        payload = result.to_json()
        assert set(payload) == {"model", "channels", "removal_effects"}
        assert set(payload["channels"][0]) == {"channel", "conversions", "value"}
        assert (payload["removal_effects"] is None) == (model != "markov")
    table = compare_models(HAND)
    assert list(table.columns) == ["channel", *MODELS]
    assert table[list(MODELS)].sum().to_numpy() == pytest.approx([4.0] * len(MODELS))


# --- paths files ---------------------------------------------------------------------------


def test_paths_file_round_trip(tmp_path: Path) -> None:
    """A paths file is read (spaces around '>' optional, blank totals 0) and written back."""
    source = write(
        tmp_path / "paths.csv",
        """
        path,total_conversions,total_conversion_value,total_null
        C1 > C2 > C3,1,100,0
        C1,0,,1
        C2>C3 ,0,0,1
    """,
    )
    paths = read_paths_csv(source)
    assert paths.channels == ("C1", "C2", "C3")
    assert credit(paths, "markov") == pytest.approx({"C1": 0.2, "C2": 0.4, "C3": 0.4})
    frame = paths.to_frame()
    assert list(frame["path"]) == ["C1", "C1 > C2 > C3", "C2 > C3"]
    assert list(frame["total_null"]) == [1, 0, 1]
    minimal = write(tmp_path / "minimal.csv", "path,total_conversions\nA > B,2\n")
    assert read_paths_csv(minimal).nulls.tolist() == [0.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("route,total_conversions\nA,1\n", "missing column\\(s\\) path"),
        ("path,total_null\nA,1\n", "missing column\\(s\\) total_conversions"),
        ("path,total_conversions\nA,1\nB,-2\n", ":3:total_conversions: '-2' is not a number"),
        ("path,total_conversions,total_null\nA,1,x\n", ":2:total_null: 'x' is not a number"),
        ("path,total_conversions\nA > > B,1\n", ":2:path: 'A > > B' has an empty channel"),
        ("path,total_conversions\n,1\n", ":2:path: '' has an empty channel"),
        ("path,total_conversions\n", "has no paths"),
    ],
)
def test_bad_paths_files_name_row_and_column(tmp_path: Path, text: str, message: str) -> None:
    """Mistakes in a paths file are reported with the file, the line and the column."""
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MissionlineError) as error:
        read_paths_csv(path)
    assert re.search(message, error.value.render()), error.value.render()


def test_missing_paths_file() -> None:
    """A paths file that does not exist is a clear error."""
    with pytest.raises(MissionlineError, match="no such paths file"):
        read_paths_csv("/nowhere/paths.csv")


# --- journeys from a workspace -------------------------------------------------------------

TOUCHES = """
touch_id,person_id,account_id,at,channel,initiative_id,function,kind
t01,p1,a1,2023-12-20 00:00:00,content,ini_a,marketing,web_visit
t02,p1,a1,2024-01-01 00:00:00,webinar,ini_b,marketing,webinar
t03,p1,a1,2024-01-10 00:00:00,,,marketing,email
t04,p1,a1,2024-01-20 00:00:00,outbound,,sales,call
t05,p1,a1,2024-02-15 00:00:00,events,ini_a,marketing,event
t06,p1,a1,2024-03-05 00:00:00,events,ini_a,marketing,event
t07,p2,a1,2024-01-05 00:00:00,paid_search,ini_c,marketing,ad
t08,p2,,2024-02-20 00:00:00,webinar,ini_b,marketing,webinar
t09,p3,a2,2024-01-03 00:00:00,webinar,ini_b,marketing,webinar
t10,p4,,2024-01-04 00:00:00,paid_search,ini_c,marketing,ad
t11,p6,a2,2024-02-10 00:00:00,events,ini_a,marketing,event
t12,p6,a2,2024-02-10 00:00:00,content,ini_a,marketing,web_visit
t13,p6,a2,2024-04-10 00:00:00,outbound,,sales,call
t14,,a3,2024-02-05 00:00:00,partner,,marketing,event
t15,p5,a3,2024-02-01 00:00:00,referral,,marketing,web_visit
t16,p3,a2,2024-02-03 00:00:00,outbound,,sales,meeting
"""
SPEND = """
initiative_id,channel,function,period_start,period_end,amount,currency
ini_a,events,marketing,2024-01-01,2024-02-01,200,USD
ini_a,events,marketing,2024-02-01,2024-03-01,50,USD
ini_b,webinar,marketing,2024-01-01,2024-04-01,400,USD
,,sales,2024-01-01,2024-04-01,900,USD
"""


@pytest.fixture(scope="module")
def touched(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """The fixture company with touches (ties, nulls, late touches, account-only) and spend."""
    folder = tmp_path_factory.mktemp("attribution")
    ws = Workspace.init(folder / "ws")
    load_fixture(ws, folder / "base")
    write(folder / "more" / "touches.csv", TOUCHES)
    write(folder / "more" / "spend.csv", SPEND)
    ws.import_files([folder / "more"])
    yield ws  # type: ignore[misc]
    ws.close()


def reference_journeys(
    ws: Workspace,
    level: str,
    touch: str = "channel",
    lookback: float | None = None,
    functions: tuple[str, ...] = (),
) -> list[tuple[object, ...]]:
    """Each journey as (labels, converted, value, days, lead index, opportunity index), by key."""
    touches, people = ws.table("touches"), ws.table("people").set_index("person_id")
    opps = ws.table("opportunities")
    if functions:
        touches = touches[touches["function"].isin(functions)]
    touches = touches.assign(
        account=touches["account_id"].fillna(touches["person_id"].map(people["account_id"])),
        label=touches["channel" if touch == "channel" else "initiative_id"].fillna("(none)"),
    )
    opps = opps.assign(closed=opps["closed_at"].fillna(opps["created_at"]))
    journeys = []  # (key, touches, converted, end, value, lead, opp)
    if level == "person":
        for key, rows in touches.dropna(subset=["person_id"]).groupby("person_id"):
            mine = opps[opps["person_id"] == key]
            won = mine[mine["status"] == "won"]
            end = won["closed"].min() if len(won) else None
            value = won.loc[won["closed"] == end, "amount"].sum() if end is not None else 0.0
            first_opp = mine["created_at"].min() if len(mine) else None
            journeys.append(
                (key, rows, end is not None, end, value, people.loc[key, "created_at"], first_opp)
            )
    elif level == "opportunity":
        for _, deal in opps[opps["status"].isin(["won", "lost"])].iterrows():
            rows = touches[
                (touches["person_id"] == deal["person_id"])
                | (touches["account"] == deal["account_id"])
            ]
            won = deal["status"] == "won"
            lead = (
                people.loc[deal["person_id"], "created_at"] if pd.notna(deal["person_id"]) else None
            )
            end = deal["closed"] if won else deal["closed_at"]
            journeys.append(
                (
                    deal["opportunity_id"],
                    rows,
                    won,
                    end,
                    deal["amount"] if won else 0.0,
                    lead,
                    deal["created_at"],
                )
            )
    else:
        for key, rows in touches.dropna(subset=["account"]).groupby("account"):
            mine = opps[(opps["account_id"] == key) & (opps["kind"] == "new")]
            won = mine[mine["status"] == "won"]
            end = won["closed"].min() if len(won) else None
            value = won.loc[won["closed"] == end, "amount"].sum() if end is not None else 0.0
            leads = people[people["account_id"] == key]["created_at"]
            first_opp = mine["created_at"].min() if len(mine) else None
            journeys.append(
                (
                    key,
                    rows,
                    end is not None,
                    end,
                    value,
                    leads.min() if len(leads) else None,
                    first_opp,
                )
            )
    out = []
    for _key, rows, converted, end, value, lead, first_opp in sorted(journeys, key=lambda j: j[0]):
        if end is not None and pd.notna(end):
            rows = rows[rows["at"] <= end]
        if rows.empty:
            continue
        rows = rows.sort_values(["at", "label"])
        reference = end if converted else rows["at"].max()
        if lookback is not None:
            rows = rows[rows["at"] >= reference - pd.Timedelta(days=lookback)]
        days = [(reference - at).total_seconds() / 86400 for at in rows["at"]]

        def milestone(moment: object, rows: pd.DataFrame = rows) -> int:
            if moment is None or pd.isna(moment):
                return -1
            return int((rows["at"] <= moment).sum()) - 1

        out.append(
            (
                tuple(rows["label"]),
                converted,
                float(value),
                tuple(days),
                milestone(lead),
                milestone(first_opp),
            )
        )
    return out


def engine_journeys(paths: Paths) -> list[tuple[object, ...]]:
    """The engine's journeys in the reference's shape."""
    out = []
    assert paths.days is not None and paths.lead_touch is not None
    assert paths.opportunity_touch is not None
    for i in range(len(paths)):
        start, end = paths.offsets[i], paths.offsets[i + 1]
        out.append(
            (
                tuple(paths.channels[c] for c in paths.codes[start:end]),
                bool(paths.conversions[i]),
                float(paths.value[i]),
                tuple(paths.days[start:end]),
                int(paths.lead_touch[i]),
                int(paths.opportunity_touch[i]),
            )
        )
    return out


@pytest.mark.parametrize(
    ("level", "touch", "lookback", "functions"),
    [
        ("person", "channel", None, ()),
        ("opportunity", "channel", None, ()),
        ("account", "channel", None, ()),
        ("person", "initiative", None, ()),
        ("person", "channel", 30.0, ()),
        ("opportunity", "channel", 20.0, ("marketing",)),
        ("account", "initiative", None, ("sales",)),
    ],
)
def test_workspace_journeys_match_the_pandas_reference(
    touched: Workspace,
    level: str,
    touch: str,
    lookback: float | None,
    functions: tuple[str, ...],
) -> None:
    """Journeys, conversions, values, days and milestones equal a record-by-record reference."""
    paths = workspace_paths(
        touched.tables(), touched.schema, touched.plan, level, touch, lookback, functions
    )
    expected = reference_journeys(touched, level, touch, lookback, functions)
    got = engine_journeys(paths)
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert mine[:3] == theirs[:3]
        assert mine[3] == pytest.approx(theirs[3])
        assert mine[4:] == theirs[4:]


def test_person_journey_of_the_converted_lead(touched: Workspace) -> None:
    """p1: the touch after the win is cut; lead and opportunity milestones; value of o1."""
    paths = workspace_paths(touched.tables(), touched.schema, touched.plan, "person")
    first = engine_journeys(paths)[0]
    assert first[0] == ("content", "webinar", "(none)", "outbound", "events")
    assert first[1:3] == (True, 1000.0)
    assert first[4:] == (1, 3)  # t02 at the lead's creation, t04 at the opportunity's
    assert credit(paths, "first_touch") == pytest.approx(
        {c: float(c == "content") for c in paths.channels}
    )


def test_unknown_level_and_touch_dimension(touched: Workspace) -> None:
    """Levels and touch dimensions outside the lists are refused with the choices."""
    with pytest.raises(MissionlineError, match="unknown level 'lead'"):
        workspace_paths(touched.tables(), touched.schema, touched.plan, "lead")
    with pytest.raises(MissionlineError, match="unknown touch dimension 'kind'"):
        workspace_paths(touched.tables(), touched.schema, touched.plan, touch="kind")


def test_a_workspace_without_touches_has_no_journeys(workspace: Workspace) -> None:
    """No touches: no paths, and every model credits nothing without failing."""
    paths = workspace_paths(workspace.tables(), workspace.schema, workspace.plan, "account")
    assert len(paths) == 0 and paths.channels == ()
    for model in MODELS:
        assert attribute(paths, model).channels.empty


def test_initiative_roi_on_the_fixture(touched: Workspace) -> None:
    """Last touch credits p1's win (1000) to ini_a (cost 250): ROI 3; spend without initiative
    is the cost of (none); an initiative without spend has no ROI."""
    frame = initiative_roi(
        touched.tables(), touched.schema, touched.plan, "last_touch", "person"
    ).set_index("initiative")
    assert frame.loc["ini_a", "attributed_conversions"] == pytest.approx(1.0)
    assert frame.loc["ini_a", "attributed_revenue"] == pytest.approx(1000.0)
    assert frame.loc["ini_a", "cost"] == pytest.approx(250.0)
    assert frame.loc["ini_a", "roi"] == pytest.approx(3.0)
    assert frame.loc["ini_b", "roi"] == pytest.approx(-1.0)
    assert frame.loc["(none)", "cost"] == pytest.approx(900.0)
    assert pd.isna(frame.loc["ini_c", "roi"])
    assert list(frame.index)[-1] == "(none)"
