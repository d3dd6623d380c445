"""Accounts and the people at them: who they are, when they appear and through which channel."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from missionline.demo._ids import decode, take
from missionline.demo._initiatives import INITIATIVE_IDS, channel_month_weights, choose_initiative
from missionline.demo._params import (
    ACCOUNT_WEIGHT_SIGMA,
    ACCOUNTLESS_SHARE,
    CHANNEL_MIX,
    CHANNELS,
    EMPLOYEES_MEDIAN,
    EMPLOYEES_SIGMA,
    INDUSTRIES,
    MARKET_SHARE,
    MARKETS,
    PEOPLE_PER_ACCOUNT,
    RADAR_ENGAGE,
    RADAR_SHARE,
    REGIONS,
    SEGMENT_GIVEN_MARKET,
    SEGMENTS,
    BoolArr,
    FloatArr,
    IntArr,
    lag,
)
from missionline.demo._timeline import Timeline

_NAME_A = (
    "Arc",
    "Blue",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Helix",
    "Iris",
    "Jade",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nova",
    "Orbit",
    "Pioneer",
    "Quartz",
    "Raven",
    "Summit",
    "Titan",
    "Umbra",
    "Vector",
    "Willow",
    "Xenon",
    "Yarrow",
    "Zenith",
)
_NAME_B = {
    "transportation": ("Motors", "Mobility", "Rail", "Aero", "Drive", "Transit", "Auto"),
    "computing": ("Compute", "Systems", "Data", "Logic", "Servers", "Silicon", "Labs"),
    "consumer_electronics": ("Devices", "Audio", "Home", "Wear", "Play", "Gadgets", "Living"),
    "communications": ("Networks", "Telecom", "Link", "Wave", "Signal", "Connect", "Radio"),
}
_NAME_B_FLAT = tuple(w for s in SEGMENTS for w in _NAME_B[s])
_LEGAL = ("Inc.", "GmbH", "Co., Ltd.", "K.K.")  # by market
REGION_LABELS = tuple(code for m in MARKETS for code in REGIONS[m][0])
INDUSTRY_LABELS = tuple(label for s in SEGMENTS for label in INDUSTRIES[s][0])


@dataclass
class Accounts:
    """Account attributes as arrays of codes into the vocabularies."""

    market: IntArr
    segment: IntArr
    region: IntArr  # into REGION_LABELS
    industry: IntArr  # into INDUSTRY_LABELS
    name_a: IntArr  # into _NAME_A
    name_b: IntArr  # into _NAME_B_FLAT
    employees: IntArr
    weight: FloatArr  # relative number of people the account brings
    created: FloatArr  # filled in once its people exist


@dataclass
class People:
    """Person attributes and entry times as arrays (-1 / NaN where absent)."""

    account: IntArr
    segment: IntArr  # -1: no account
    market: IntArr  # -1: no account
    channel: IntArr
    initiative: IntArr  # -1: none
    created: FloatArr
    radar: BoolArr  # first known on the radar
    t_lead: FloatArr  # NaN: never became a lead


def _pick_codes(
    rng: np.random.Generator,
    groups: dict[str, tuple[tuple[str, ...], tuple[float, ...]]],
    keys: tuple[str, ...],
    group_of: IntArr,
) -> IntArr:
    """Draw a label code (into the flattened label list) from each row's group distribution."""
    out = np.empty(len(group_of), dtype=np.int64)
    offset = 0
    for g, key in enumerate(keys):
        rows = np.flatnonzero(group_of == g)
        labels, p = groups[key]
        out[rows] = offset + rng.choice(len(labels), len(rows), p=p)
        offset += len(labels)
    return out


def draw_accounts(rng: np.random.Generator, leads: int) -> Accounts:
    """Draw the account base: market, segment, region, industry, size and name."""
    n = max(40, leads // PEOPLE_PER_ACCOUNT)
    market = rng.choice(len(MARKETS), size=n, p=MARKET_SHARE)
    segment = np.empty(n, dtype=np.int64)
    for m in range(len(MARKETS)):
        rows = np.flatnonzero(market == m)
        segment[rows] = rng.choice(len(SEGMENTS), size=len(rows), p=SEGMENT_GIVEN_MARKET[m])
    region = _pick_codes(rng, REGIONS, MARKETS, market)
    industry = _pick_codes(rng, INDUSTRIES, SEGMENTS, segment)
    employees = np.maximum(
        20,
        EMPLOYEES_MEDIAN[segment] * np.exp(EMPLOYEES_SIGMA * rng.standard_normal(n)),
    ).astype(np.int64)
    # Names may repeat in large bases; they are labels, not keys.
    name_a = rng.integers(len(_NAME_A), size=n)
    name_b = segment * 7 + rng.integers(7, size=n)
    weight = np.exp(ACCOUNT_WEIGHT_SIGMA * rng.standard_normal(n))
    return Accounts(
        market.astype(np.int64),
        segment,
        region,
        industry,
        name_a,
        name_b,
        employees,
        weight,
        np.full(n, np.nan),
    )


def draw_people(rng: np.random.Generator, n: int, acc: Accounts, tl: Timeline) -> People:
    """Draw people: account, channel (mix by segment), creation time (waves), initiative."""
    has_account = rng.random(n) >= ACCOUNTLESS_SHARE
    account = np.where(
        has_account, rng.choice(len(acc.weight), size=n, p=acc.weight / acc.weight.sum()), -1
    )
    segment = np.where(has_account, acc.segment[np.maximum(account, 0)], -1)
    market = np.where(has_account, acc.market[np.maximum(account, 0)], -1)
    channel = np.empty(n, dtype=np.int64)
    for s in range(-1, len(SEGMENTS)):
        rows = np.flatnonzero(segment == s)
        channel[rows] = rng.choice(len(CHANNELS), size=len(rows), p=CHANNEL_MIX[s])
    # Campaign waves and seasonality shape when each channel's people arrive.
    weights = channel_month_weights(tl)
    month = np.empty(n, dtype=np.int64)
    for c in range(len(CHANNELS)):
        rows = np.flatnonzero(channel == c)
        month[rows] = rng.choice(tl.months, size=len(rows), p=weights[c] / weights[c].sum())
    created = tl.in_month(rng, month)
    initiative = choose_initiative(rng, tl, channel, month, segment)
    radar = has_account & (rng.random(n) < RADAR_SHARE[channel])
    engaged = ~radar | (rng.random(n) < RADAR_ENGAGE)
    seg0 = np.maximum(segment, 0)
    t_lead = np.where(radar, created + lag(rng, "radar_lead", seg0), created)
    t_lead = np.where(engaged, t_lead, np.nan)
    # Person ids follow creation order, which is how a CRM numbers records.
    order = np.argsort(created, kind="stable")
    return People(
        account[order],
        segment[order],
        market[order],
        channel[order],
        initiative[order],
        created[order],
        radar[order],
        t_lead[order],
    )


def finish_accounts(rng: np.random.Generator, acc: Accounts, people: People, tl: Timeline) -> None:
    """Date each account just before its first person and renumber accounts by creation."""
    first = np.full(len(acc.weight), np.inf)
    known = people.account >= 0
    np.minimum.at(first, people.account[known], people.created[known])
    no_people = ~np.isfinite(first)
    first[no_people] = tl.in_month(rng, rng.integers(tl.months, size=int(no_people.sum())))
    acc.created = np.maximum(0.0, first - 20.0 * rng.random(len(first)))
    order = np.argsort(acc.created, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    people.account = np.where(known, rank[np.maximum(people.account, 0)], -1)
    for name in (
        "market",
        "segment",
        "region",
        "industry",
        "name_a",
        "name_b",
        "employees",
        "weight",
        "created",
    ):
        setattr(acc, name, getattr(acc, name)[order])


def accounts_table(acc: Accounts, tl: Timeline, ids: pa.Array) -> pa.Table:
    """Assemble the accounts table."""
    name = pc.binary_join_element_wise(
        decode(_NAME_A, acc.name_a),
        decode(_NAME_B_FLAT, acc.name_b),
        decode(_LEGAL, acc.market),
        " ",
    )
    return pa.table(
        {
            "account_id": ids,
            "name": name,
            "market": decode(MARKETS, acc.market),
            "segment": decode(SEGMENTS, acc.segment),
            "region": decode(REGION_LABELS, acc.region),
            "industry": decode(INDUSTRY_LABELS, acc.industry),
            "employees": pa.array(acc.employees, pa.int64()),
            "created_at": tl.timestamps(acc.created),
        }
    )


def people_table(
    people: People, tl: Timeline, ids: pa.Array, account_ids: pa.Array, lead_score: FloatArr
) -> pa.Table:
    """Assemble the people table."""
    return pa.table(
        {
            "person_id": ids,
            "account_id": take(account_ids, people.account),
            "created_at": tl.timestamps(people.created),
            "source_channel": decode(CHANNELS, people.channel),
            "first_initiative_id": decode(INITIATIVE_IDS, people.initiative),
            "lead_score": pa.array(lead_score, pa.float64()),
        }
    )
