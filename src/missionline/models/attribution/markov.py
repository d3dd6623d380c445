"""Markov-chain attribution with removal effects solved exactly as an absorbing chain.

The chain (Anderl, Becker, von Wangenheim & Schumann 2016, "Mapping the customer journey"):
states are the last ``order`` channels of a journey, a tuple; a journey goes from (start) to
the state of its first ``order`` channels (all of them when it is shorter), then one channel at
a time to the state of the last ``order`` channels, and from its last state to (conversion) or
to (null). Transition probabilities are the observed transition counts, each path weighted by
its journeys, divided by the state's outgoing journeys. Consecutive repeats of a channel are
kept, as the ``ChannelAttribution`` package does: at order 1 a repeat is a self-loop, which
does not change any absorption probability (collapsing repeats gives the same answer); at
higher orders (A, A) is a state of its own.

With Q the transient-to-transient block and b the one-step probabilities of converting, the
absorption probabilities x solve (I - Q) x = b (a sparse LU solve, not a simulation), and
P(conversion) = π·x with π the start distribution. Removing channel c sends every transition
into a state containing c to (null): the states without c keep their rows, so P(conversion |
c removed) is the same solve restricted to them. The removal effect is
RE(c) = 1 - P(conversion | c removed) ÷ P(conversion), and channel c is credited
total conversions · RE(c) ÷ Σ RE.

Value uses the same chain with a reward: a state's conversions carry their mean value, so
E(value) solves (I - Q) y = value per outgoing journey; the value removal effect is
1 - E(value | c removed) ÷ E(value), and the value credit is total value · its share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import bicgstab, splu

from missionline.errors import MissionlineError
from missionline.models.attribution.paths import FloatArray, IntArray, Paths, run_starts, tally

MAX_ORDER = 4
# Above this many possible state keys, states are numbered by sorting instead of a lookup table.
DENSE_KEYS = 20_000_000
# Up to this many states the chain is solved by a sparse LU; above, iteratively (see _solve).
DIRECT_STATES = 1000
ITERATIVE_TOLERANCE = 1e-12
# Up to this many (state, state) pairs, transitions are counted in a dense table.
DENSE_TRANSITIONS = 4_000_000


@dataclass(frozen=True)
class Chain:
    """The estimated chain: states, transition counts, and their ways out."""

    keys: IntArray  # one integer key per state (its channel codes in base len(channels) + 1)
    transitions: sp.csr_matrix  # journeys moving state -> state
    start: FloatArray  # journeys starting in each state
    converted: FloatArray  # conversions leaving each state
    value: FloatArray  # conversion value leaving each state
    outgoing: FloatArray  # journeys leaving each state, by any way


@dataclass(frozen=True)
class MarkovResult:
    """Conversion probability and removal effects (for conversions and for value)."""

    conversion_probability: float
    removal_effects: FloatArray
    value_removal_effects: FloatArray


def _state_keys(paths: Paths, order: int) -> tuple[IntArray, IntArray]:
    """Return (path index, key) for every touch that ends a state, in path order."""
    path = paths.path_of_touch()
    if order == 1:
        return path, paths.codes + 1
    base = len(paths.channels) + 1
    position = paths.position_of_touch()
    ends = np.flatnonzero(position >= np.minimum(order, paths.lengths)[path] - 1)
    at = position[ends]
    key = paths.codes[ends] + 1
    for back in range(1, order):
        # Digit `back` is the channel `back` touches earlier, 0 before the path's start (the
        # index may then point into the previous path, or wrap: masked either way).
        key += np.where(at >= back, paths.codes[ends - back] + 1, 0) * base**back
    return path[ends], key


def _number_states(key: IntArray, base: int, order: int) -> tuple[IntArray, IntArray]:
    """Return (distinct keys, state id of each key), through a lookup table when it is small."""
    space = base**order
    if space <= DENSE_KEYS:
        present = np.zeros(space, dtype=bool)
        present[key] = True
        distinct = np.flatnonzero(present).astype(np.int64)
        lookup = np.cumsum(present, dtype=np.int64) - 1
        return distinct, lookup[key]
    distinct, ids = np.unique(key, return_inverse=True)
    return distinct.astype(np.int64), ids.astype(np.int64)


def build_chain(paths: Paths, order: int = 1) -> Chain:
    """Count the chain's transitions from the paths (vectorised over all touches)."""
    if order not in range(1, MAX_ORDER + 1):
        raise MissionlineError(f"the Markov order must be 1 to {MAX_ORDER}, not {order}")
    keep = np.flatnonzero((paths.lengths > 0) & (paths.journeys > 0))
    if len(keep) < len(paths):
        paths = _subset(paths, keep)
    path, key = _state_keys(paths, order)
    distinct, state = _number_states(key, len(paths.channels) + 1, order)
    size = len(distinct)
    journeys = paths.journeys
    weight = journeys[path]
    # Consecutive state ends of one path are a transition; a path's first end is its start.
    is_first = run_starts(path)
    is_last = np.roll(is_first, -1)
    transitions = _count_transitions(state, np.where(is_first[1:], 0.0, weight[1:]), size)
    start = tally(state[is_first], weight[is_first], size)
    last_state, last_path = state[is_last], path[is_last]
    converted = tally(last_state, paths.conversions[last_path], size)
    value = tally(last_state, paths.value[last_path], size)
    ended = tally(last_state, journeys[last_path], size)
    outgoing = np.asarray(transitions.sum(axis=1)).ravel() + ended
    return Chain(distinct, transitions, start, converted, value, outgoing)


def _count_transitions(state: IntArray, weight: FloatArray, size: int) -> sp.csr_matrix:
    """Sum the journeys of each (state, next state) pair into a sparse matrix."""
    if size * size <= DENSE_TRANSITIONS:
        pair = state[:-1] * size + state[1:]
        dense = tally(pair, weight, size * size)
        return sp.csr_matrix(dense.reshape(size, size))
    moved = np.flatnonzero(weight)
    return sp.csr_matrix((weight[moved], (state[moved], state[moved + 1])), shape=(size, size))


def _subset(paths: Paths, keep: IntArray) -> Paths:
    """The paths at the given indices (their touches and outcomes)."""
    lengths = paths.lengths[keep]
    touches = np.repeat(paths.offsets[keep], lengths) + (
        np.arange(lengths.sum(), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    )
    return Paths(
        paths.channels,
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        paths.codes[touches],
        paths.conversions[keep],
        paths.value[keep],
        paths.nulls[keep],
    )


def _contains(keys: IntArray, channels: int, order: int) -> np.ndarray:
    """A (state, channel) boolean matrix: does the state hold the channel."""
    base = channels + 1
    holds = np.zeros((len(keys), channels + 1), dtype=bool)
    rows = np.arange(len(keys))
    for i in range(order):
        holds[rows, (keys // base**i) % base] = True
    return holds[:, 1:]  # digit 0 is "before the path's start", not a channel


def _solve(system: sp.csc_matrix, rhs: FloatArray) -> FloatArray:
    """Solve ``system @ x = rhs`` (one column per right-hand side).

    A sparse LU is exact up to rounding but its fill-in explodes on the densely connected
    chains of orders 3 and 4, so larger systems use BiCGSTAB to a residual of 1e-12 of the
    right-hand side (the same answer to about 12 digits), with the LU as a fallback.
    """
    if system.shape[0] <= DIRECT_STATES:
        return np.asarray(splu(system).solve(rhs))
    columns = []
    for column in rhs.T:
        solved, info = bicgstab(system, column, rtol=ITERATIVE_TOLERANCE, atol=0.0, maxiter=10_000)
        if info != 0:
            return np.asarray(splu(system).solve(rhs))
        columns.append(solved)
    return np.column_stack(columns)


def _absorb(chain: Chain, keep: np.ndarray) -> tuple[float, float]:
    """Return (P(conversion), E(value)) from (start) using only the states in ``keep``."""
    index = np.flatnonzero(keep)
    if not len(index):
        return 0.0, 0.0
    outgoing = chain.outgoing[index]
    q = sp.diags(1.0 / outgoing) @ chain.transitions[index][:, index]
    system = (sp.identity(len(index), format="csc") - q).tocsc()
    rhs = np.column_stack([chain.converted[index], chain.value[index]]) / outgoing[:, None]
    solved = _solve(system, rhs)
    start = chain.start[index] / chain.start.sum()
    conversion, value = start @ solved
    return float(conversion), float(value)


def removal_effects(chain: Chain, channels: int, order: int) -> MarkovResult:
    """Solve the chain, then once per channel with the channel's states removed."""
    everything = np.ones(len(chain.keys), dtype=bool)
    conversion, value = _absorb(chain, everything)
    holds = _contains(chain.keys, channels, order)
    effects = np.zeros(channels)
    value_effects = np.zeros(channels)
    for c in range(channels):
        if not holds[:, c].any():
            continue  # a channel only on paths without journeys: nothing to remove
        without, without_value = _absorb(chain, ~holds[:, c])
        effects[c] = 1 - without / conversion if conversion > 0 else 0.0
        value_effects[c] = 1 - without_value / value if value > 0 else 0.0
    return MarkovResult(conversion, effects, value_effects)


def markov_credit(paths: Paths, order: int = 1) -> tuple[FloatArray, FloatArray, FloatArray, float]:
    """Return (conversions, value, removal effects, P(conversion)) per channel."""
    chain = build_chain(paths, order)
    result = removal_effects(chain, len(paths.channels), order)
    conversions = _shares(result.removal_effects) * float(paths.conversions.sum())
    value = _shares(result.value_removal_effects) * float(paths.value.sum())
    return conversions, value, result.removal_effects, result.conversion_probability


def _shares(effects: FloatArray) -> FloatArray:
    """Removal effects as shares that sum to 1 (zeros when nothing converts)."""
    total = effects.sum()
    return effects / total if total > 0 else np.zeros_like(effects)
