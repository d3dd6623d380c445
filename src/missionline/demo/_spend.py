"""Monthly spend: marketing per initiative (following its campaign waves) and sales cost."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from missionline.demo._ids import constant, decode
from missionline.demo._initiatives import INITIATIVE_CHANNEL, INITIATIVE_IDS, INITIATIVES, intensity
from missionline.demo._owners import Owners
from missionline.demo._params import CHANNELS, CURRENCY
from missionline.demo._timeline import Timeline

REFERENCE_LEADS = 20_000  # initiative budgets are stated for this many leads
SDR_MONTHLY_COST = 9_000.0
AE_MONTHLY_COST = 16_000.0
CSM_MONTHLY_COST = 11_000.0
OFF_PEAK = 0.05  # share of a pulse-only initiative's activity that continues between pulses


def spend_table(rng: np.random.Generator, tl: Timeline, owners: Owners, leads: int) -> pa.Table:
    """Build monthly spend rows; initiatives without a budget get none (a plan warning)."""
    months = np.arange(tl.months)
    inten = intensity(tl)[: tl.months] + OFF_PEAK
    scale = leads / REFERENCE_LEADS
    ini_code: list[np.ndarray] = []
    month_code: list[np.ndarray] = []
    amount: list[np.ndarray] = []
    for j, ini in enumerate(INITIATIVES):
        if ini.budget is None:
            continue
        shape = inten[:, j] / inten[:, j].mean()  # waves move budget between months
        noise = np.exp(0.08 * rng.standard_normal(tl.months))
        ini_code.append(np.full(tl.months, j))
        month_code.append(months)
        amount.append(np.round(ini.budget * scale * shape * noise, 2))
    ini_arr = np.concatenate(ini_code)
    m_arr = np.concatenate(month_code)
    mk_amount = np.concatenate(amount)
    # Sales cost: the reps' loaded cost, one row per month without initiative or channel.
    team_cost = (
        sum(len(g) for g in owners.sdr_by_market) * SDR_MONTHLY_COST
        + sum(len(g) for g in owners.ae_by_market) * AE_MONTHLY_COST
        + len(owners.csm) * CSM_MONTHLY_COST
    )
    sales_amount = np.round(team_cost * np.exp(0.03 * rng.standard_normal(tl.months)), 2)
    n_mk, n_s = len(ini_arr), tl.months
    month = np.concatenate([m_arr, months])
    return pa.table(
        {
            "initiative_id": pa.concat_arrays(
                [decode(INITIATIVE_IDS, ini_arr), constant(None, n_s)]
            ),
            "channel": pa.concat_arrays(
                [decode(CHANNELS, INITIATIVE_CHANNEL[ini_arr]), constant(None, n_s)]
            ),
            "function": pa.concat_arrays([constant("marketing", n_mk), constant("sales", n_s)]),
            "period_start": tl.timestamps(tl.month_start[month]),
            "period_end": tl.timestamps(tl.month_start[month + 1]),
            "amount": pa.array(np.concatenate([mk_amount, sales_amount]), pa.float64()),
            "currency": constant(CURRENCY, n_mk + n_s),
        }
    )
