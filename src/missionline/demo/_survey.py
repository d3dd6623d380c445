"""The alignment questionnaire: the same 20 questions answered by both functions, twice."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from missionline.demo._ids import decode, sequential_ids
from missionline.demo._params import (
    SURVEY_FUNCTIONS,
    SURVEY_GAP,
    SURVEY_GAP_QUESTIONS,
    SURVEY_QUESTIONS,
    SURVEY_WAVE_IMPROVEMENT,
    SURVEY_WAVE_MONTHS,
)
from missionline.demo._timeline import Timeline

QUESTIONS = tuple(f"q{k:02d}" for k in range(1, SURVEY_QUESTIONS + 1))
LATENT_MEAN = 3.2
RESPONDENT_SD = 0.4
QUESTION_SD = 0.3
NOISE_SD = 0.6


def wave_months(tl: Timeline) -> tuple[int, int]:
    """Return the two wave months, pulled inside short windows."""
    a, b = SURVEY_WAVE_MONTHS
    if b < tl.months:
        return a, b
    return int(tl.months * 0.2), int(tl.months * 0.7)


def survey_table(rng: np.random.Generator, tl: Timeline) -> pa.Table:
    """Simulate every respondent answering every question in both waves."""
    functions = list(SURVEY_FUNCTIONS)
    fn = np.repeat(np.arange(len(functions)), list(SURVEY_FUNCTIONS.values()))
    n_resp, n_q = len(fn), len(QUESTIONS)
    person_effect = RESPONDENT_SD * rng.standard_normal(n_resp)
    question_effect = QUESTION_SD * rng.standard_normal(n_q)
    gap = np.array([SURVEY_GAP if q in SURVEY_GAP_QUESTIONS else 0.0 for q in QUESTIONS])
    r, q, w = (
        a.ravel() for a in np.meshgrid(np.arange(n_resp), np.arange(n_q), [0, 1], indexing="ij")
    )
    # Marketing rates itself higher than sales does on the gap questions.
    latent = (
        LATENT_MEAN
        + person_effect[r]
        + question_effect[q]
        + SURVEY_WAVE_IMPROVEMENT * w
        + gap[q] * (fn[r] == functions.index("marketing"))
    )
    score = np.clip(np.round(latent + NOISE_SD * rng.standard_normal(len(r))), 1, 5)
    months = np.array(wave_months(tl))[w]
    # Each respondent answers a wave on one day within two weeks of the wave opening.
    day = rng.random((n_resp, 2)) * 14.0
    t = tl.month_start[months] + day[r, w] + rng.random(len(r)) / 24.0
    respondent = sequential_ids("res_", n_resp, 3)
    return pa.table(
        {
            "response_id": sequential_ids("rsp_", len(r), 5),
            "respondent": respondent.take(pa.array(r)),
            "function": decode(functions, fn[r]),
            "question_id": decode(QUESTIONS, q),
            "score": pa.array(score.astype(np.int64), pa.int64()),
            "at": tl.timestamps(t),
        }
    )
