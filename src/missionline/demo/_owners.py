"""The revenue team: marketers, SDRs and account executives per market, customer success."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from missionline.demo._ids import sequential_ids
from missionline.demo._initiatives import INITIATIVES
from missionline.demo._params import MARKET_SHARE, MARKETS, IntArr

_FIRST = (
    "Ava",
    "Ben",
    "Chen",
    "Dana",
    "Emil",
    "Fatima",
    "Goro",
    "Hana",
    "Ivan",
    "Julia",
    "Kenji",
    "Lena",
    "Marco",
    "Nora",
    "Omar",
    "Paula",
    "Quentin",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Xavier",
    "Yuki",
    "Zoe",
)
_LAST = (
    "Andersen",
    "Becker",
    "Castillo",
    "Dubois",
    "Eriksson",
    "Fischer",
    "Garcia",
    "Hoffmann",
    "Ito",
    "Jensen",
    "Kim",
    "Li",
    "Moreau",
    "Nakamura",
    "Olsen",
    "Patel",
    "Rossi",
    "Sato",
    "Schmidt",
    "Tanaka",
    "Wang",
    "Weber",
    "Zhang",
)
_MARKETING_TEAMS = (
    "demand_gen",
    "demand_gen",
    "demand_gen",
    "field_marketing",
    "field_marketing",
    "content",
    "product_marketing",
    "abm",
)
SDR_LEADS_PER_REP = 5_000  # one SDR per this many leads (over the whole window) in a market
AE_LEADS_PER_REP = 1_200  # sized so that open deals approach capacity by the window end
CSM_LEADS_PER_REP = 15_000
AE_CAPACITY = (25, 40)  # open opportunities an account executive can carry


@dataclass(frozen=True)
class Owners:
    """The owners table's columns plus the groups the simulation assigns work to."""

    function: list[str]
    team: list[str]
    capacity: list[int | None]
    sdr_by_market: list[IntArr]
    ae_by_market: list[IntArr]
    csm: IntArr
    initiative_owner: IntArr  # owner index of each initiative's marketer (by INITIATIVES order)

    def table(self, rng: np.random.Generator) -> pa.Table:
        """Assemble the owners table with generated names."""
        n = len(self.function)
        first = rng.integers(len(_FIRST), size=n)
        last = rng.integers(len(_LAST), size=n)
        names = [f"{_FIRST[a]} {_LAST[b]}" for a, b in zip(first, last, strict=True)]
        return pa.table(
            {
                "owner_id": sequential_ids("own_", n, 4),
                "name": pa.array(names, pa.string()),
                "function": pa.array(self.function, pa.string()),
                "team": pa.array(self.team, pa.string()),
                "capacity": pa.array(self.capacity, pa.int64()),
            }
        )


def build_owners(rng: np.random.Generator, leads: int) -> Owners:
    """Size the team to the lead volume (at least two reps per market and role)."""
    function: list[str] = []
    team: list[str] = []
    capacity: list[int | None] = []

    def hire(n: int, fn: str, tm: str, cap: tuple[int, int] | None = None) -> IntArr:
        """Add ``n`` owners of one team and return their indices."""
        first = len(function)
        for _ in range(n):
            function.append(fn)
            team.append(tm)
            capacity.append(None if cap is None else int(rng.integers(cap[0], cap[1] + 1)))
        return np.arange(first, first + n, dtype=np.int64)

    marketers = [int(hire(1, "marketing", t)[0]) for t in _MARKETING_TEAMS]
    sdr = [
        hire(max(2, round(leads * s / SDR_LEADS_PER_REP)), "sales", f"sdr_{m}")
        for m, s in zip(MARKETS, MARKET_SHARE, strict=True)
    ]
    ae = [
        hire(max(2, round(leads * s / AE_LEADS_PER_REP)), "sales", f"ae_{m}", AE_CAPACITY)
        for m, s in zip(MARKETS, MARKET_SHARE, strict=True)
    ]
    csm = hire(max(2, round(leads / CSM_LEADS_PER_REP)), "customer_success", "customer_success")
    owner_of_team = {t: marketers[_MARKETING_TEAMS.index(t)] for t in set(_MARKETING_TEAMS)}
    ini_owner = np.array([owner_of_team[i.team] for i in INITIATIVES], dtype=np.int64)
    return Owners(function, team, capacity, sdr, ae, csm, ini_owner)


def pick(rng: np.random.Generator, groups: list[IntArr], market: IntArr) -> IntArr:
    """Pick a random member of each record's market group."""
    out = np.full(len(market), -1, dtype=np.int64)
    for m, members in enumerate(groups):
        rows = np.flatnonzero(market == m)
        out[rows] = members[rng.integers(len(members), size=len(rows))]
    return out
