"""Northwind's marketing initiatives: catalogue, monthly campaign waves and attribution draws."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from missionline.demo._params import CHANNELS, SEASONALITY, TREND_PER_MONTH, FloatArr, IntArr
from missionline.demo._timeline import Timeline


@dataclass(frozen=True)
class Initiative:
    """One programme: its channel, owning marketing team, wave shape and budget."""

    id: str
    channel: str
    team: str
    base: float  # monthly intensity outside pulses
    pulses: dict[int, float] = field(default_factory=dict)  # calendar month -> extra intensity
    budget: float | None = None  # average monthly spend at 20,000 leads; None: no spend rows
    affinity: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0)  # by segment


_QUARTER_MID = {2: 0.8, 5: 0.8, 8: 0.8, 11: 0.8}
INITIATIVES = (
    Initiative("ini_paid_search_always_on", "paid_search", "demand_gen", 1.0, budget=40_000),
    Initiative(
        "ini_mcu_launch_ads",
        "paid_search",
        "product_marketing",
        0.05,
        {4: 1.2, 10: 1.2},
        budget=15_000,
        affinity=(0.8, 1.2, 1.2, 0.8),
    ),
    Initiative(
        "ini_embedded_world",
        "events",
        "field_marketing",
        0.0,
        {3: 3.0},
        budget=60_000,
        affinity=(1.3, 1.0, 0.7, 1.0),
    ),
    Initiative(
        "ini_ces",
        "events",
        "field_marketing",
        0.0,
        {1: 2.0},
        budget=45_000,
        affinity=(1.0, 0.8, 1.6, 0.8),
    ),
    Initiative("ini_webinar_series", "webinar", "demand_gen", 0.6, _QUARTER_MID, budget=12_000),
    Initiative("ini_content_hub", "content", "content", 0.8, budget=15_000),
    Initiative(
        "ini_design_win_programme",
        "outbound",
        "abm",
        0.7,
        budget=20_000,
        affinity=(1.5, 0.8, 0.8, 1.2),
    ),
    Initiative(
        "ini_abm_computing",
        "outbound",
        "abm",
        0.1,
        {1: 0.8, 2: 0.8, 7: 0.8, 8: 0.8},
        budget=25_000,
        affinity=(0.05, 1.0, 0.05, 0.05),
    ),
    Initiative(
        "ini_partner_comarketing",
        "partner",
        "demand_gen",
        0.5,
        {3: 0.5, 6: 0.5, 9: 0.5, 12: 0.5},
        budget=18_000,
    ),
    Initiative(
        "ini_china_distributor_days",
        "partner",
        "field_marketing",
        0.1,
        {5: 0.8, 11: 0.8},
        budget=15_000,
        affinity=(0.6, 0.8, 1.6, 1.0),
    ),
    # Two programmes that run without any recorded spend (the plan checker flags them).
    Initiative("ini_customer_referral", "referral", "demand_gen", 0.6),
    Initiative("ini_developer_community", "organic", "content", 0.3),
)
INITIATIVE_IDS = tuple(i.id for i in INITIATIVES)
INITIATIVE_CHANNEL = np.array([CHANNELS.index(i.channel) for i in INITIATIVES], dtype=np.int64)
# Volume in each channel not attributable to any initiative (relative to initiative intensity).
UNATTRIBUTED = np.array([0.0, 0.3, 0.1, 0.3, 0.3, 0.4, 0.4, 0.7])


def intensity(tl: Timeline) -> FloatArr:
    """Return the (month, initiative) campaign intensity over the modelled horizon."""
    cal = tl.calendar_month[:-1]
    out = np.empty((len(cal), len(INITIATIVES)))
    for j, ini in enumerate(INITIATIVES):
        out[:, j] = ini.base + np.array([ini.pulses.get(int(m), 0.0) for m in cal])
    return out


def channel_month_weights(tl: Timeline) -> FloatArr:
    """Return (channel, month) weights of new people within the window: waves x seasonality."""
    inten = intensity(tl)[: tl.months]
    season = SEASONALITY[tl.calendar_month[: tl.months] - 1]
    trend = 1.0 + TREND_PER_MONTH * np.arange(tl.months)
    w = np.empty((len(CHANNELS), tl.months))
    for c in range(len(CHANNELS)):
        w[c] = (UNATTRIBUTED[c] + inten[:, c == INITIATIVE_CHANNEL].sum(axis=1)) * season * trend
    return w


def choose_initiative(
    rng: np.random.Generator, tl: Timeline, channel: IntArr, month: IntArr, segment: IntArr
) -> IntArr:
    """Attribute each touch or person to an initiative of its channel (-1: none).

    The draw is proportional to each initiative's intensity in that month times its affinity
    to the segment, against the channel's unattributed volume.
    """
    inten = intensity(tl)
    out = np.full(len(channel), -1, dtype=np.int64)
    for c in range(len(CHANNELS)):
        members = np.flatnonzero(c == INITIATIVE_CHANNEL)
        for s in range(-1, 4):  # -1: people without an account (no affinity)
            rows = np.flatnonzero((channel == c) & (segment == s))
            if len(rows) == 0 or len(members) == 0:
                continue
            aff = np.array([1.0 if s < 0 else INITIATIVES[j].affinity[s] for j in members])
            w = np.column_stack([np.full(len(inten), UNATTRIBUTED[c]), inten[:, members] * aff])
            cum = np.cumsum(w, axis=1)[month[rows]]
            u = rng.random(len(rows)) * cum[:, -1]
            pick = (u[:, None] >= cum).sum(axis=1).clip(0, len(members))
            out[rows] = np.where(pick == 0, -1, members[np.maximum(pick - 1, 0)])
    return out
