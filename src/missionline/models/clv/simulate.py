"""Draw customer summaries from the BG/NBD process (for benchmarks and recovery tests).

Every customer makes a first purchase at time 0 and is observed for ``T`` time units. While
alive, purchases arrive at rate λ ~ Gamma(r, alpha); after each repeat purchase the customer drops
out with probability p ~ Beta(a, b). So the repeat purchases before dropping out number
K ~ Geometric(p), the purchases in (0, T] number N ~ Poisson(λT), x = min(N, K), and the x-th
of N uniform arrival times is T · Beta(x, N - x + 1). Recency is recorded to whole days (as a
business's data are), so the draws have few unique (x, t_x, T) rows, like real data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CDNOW_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def simulate_bgnbd(
    n: int,
    params: dict[str, float] | None = None,
    T: float = 39.0,
    seed: int = 0,
    days_per_unit: float = 7.0,
) -> pd.DataFrame:
    """Return ``n`` customers' ``frequency``, ``recency`` and ``T`` drawn from the BG/NBD."""
    p = params or CDNOW_BGNBD
    rng = np.random.default_rng(seed)
    rate = rng.gamma(p["r"], 1.0 / p["alpha"], n)
    dropout = rng.beta(p["a"], p["b"], n)
    arrivals = rng.poisson(rate * T)
    before_dropout = rng.geometric(dropout)
    x = np.minimum(arrivals, before_dropout)
    last = np.zeros(n)
    repeat = x > 0
    last[repeat] = T * rng.beta(x[repeat], arrivals[repeat] - x[repeat] + 1)
    recency = np.round(last * days_per_unit) / days_per_unit
    return pd.DataFrame(
        {
            "customer_id": np.arange(n).astype(str),
            "frequency": x.astype(np.float64),
            "recency": np.minimum(recency, T),
            "T": np.full(n, T),
        }
    )
