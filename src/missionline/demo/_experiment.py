"""The nurture subject-line experiment: randomised leads with a known lift on lead -> mql."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from missionline.demo._ids import constant, decode, take
from missionline.demo._params import EXPERIMENT_ID, EXPERIMENT_MONTHS, IntArr
from missionline.demo._population import People
from missionline.demo._timeline import Timeline

VARIANTS = ("control", "treatment")


def window(tl: Timeline) -> tuple[float, float]:
    """Return the [from, to) day offsets of lead entries that join the experiment."""
    a, b = EXPERIMENT_MONTHS
    b = min(b, tl.months)
    a = min(a, max(b - 3, 0))
    return float(tl.month_start[a]), float(tl.month_start[b])


def assign(rng: np.random.Generator, people: People, tl: Timeline) -> IntArr:
    """Randomise leads at known accounts entering in the window 50/50; -1: not in it."""
    lo, hi = window(tl)
    t = np.nan_to_num(people.t_lead, nan=-1.0)
    unit = (people.segment >= 0) & (t >= lo) & (t < hi)
    coin = rng.random(len(t)) < 0.5
    return np.where(unit, coin.astype(np.int64), -1)


def assignments_table(
    variant: IntArr, people: People, tl: Timeline, person_ids: pa.Array
) -> pa.Table:
    """Assemble the assignments table: one row per unit, dated at its lead entry."""
    units = np.flatnonzero(variant >= 0)
    return pa.table(
        {
            "experiment_id": constant(EXPERIMENT_ID, len(units)),
            "unit_id": take(person_ids, units),
            "variant": decode(VARIANTS, variant[units]),
            "at": tl.timestamps(people.t_lead[units]),
        }
    )
