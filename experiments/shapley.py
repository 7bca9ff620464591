"""Shapley values of levers: a difference between two policies split among what differs.

Levers are numbered 0..d-1; a coalition is a bit mask (bit i set: lever i takes the `to`
policy's value, otherwise the `from` policy's). `values[mask]` holds the outcome of that
coalition's policy in each replication; replication r of every coalition runs from the same
seed (common random numbers), so the values of one replication are a paired set and the
Shapley values are computed per replication. They add up to v(all) - v(none) in every
replication (efficiency), exactly up to rounding, whether exact or sampled:

    exact    every coalition (2^d of them): phi_i = sum over S without i of
             |S|! (d-|S|-1)! / d! (v(S + i) - v(S))
    sampled  `count` random orders of the levers, the same for every replication: phi_i is
             the mean over orders of v(levers before i, and i) - v(levers before i); only
             the coalitions on those orders' paths are run

A lever's estimate is the mean of its per-replication values, with Student's t interval
over replications (replications are independent; the orders are shared, so with sampled
orders the interval leaves out the order's own sampling error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

EXACT_UP_TO = 6  # levers; above, sampled orders


def all_coalitions(d: int) -> list[int]:
    """Every coalition of d levers, as bit masks."""
    return list(range(1 << d))


def orders(d: int, count: int, seed: int) -> np.ndarray:
    """`count` random orders of d levers (rows), from `seed`."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, d, count]))
    return np.array([rng.permutation(d) for _ in range(count)], dtype=np.int64).reshape(count, d)


def path_coalitions(sampled: np.ndarray) -> list[int]:
    """The coalitions the orders pass through (each order's prefixes), sorted."""
    masks = {0}
    for row in sampled:
        mask = 0
        for lever in row:
            mask |= 1 << int(lever)
            masks.add(mask)
    return sorted(masks)


def _stack(values: Mapping[int, np.ndarray]) -> dict[int, np.ndarray]:
    return {mask: np.asarray(v, dtype=float) for mask, v in values.items()}


def exact(values: Mapping[int, np.ndarray], d: int) -> np.ndarray:
    """Per-replication Shapley values, shape (d, replications), from every coalition."""
    v = _stack(values)
    replications = len(next(iter(v.values())))
    phi = np.zeros((d, replications))
    factorial = math.factorial
    weights = [factorial(s) * factorial(d - s - 1) / factorial(d) for s in range(d)]
    for i in range(d):
        bit = 1 << i
        for mask in range(1 << d):
            if mask & bit:
                continue
            phi[i] += weights[mask.bit_count()] * (v[mask | bit] - v[mask])
    return phi


def sampled(values: Mapping[int, np.ndarray], chosen: np.ndarray) -> np.ndarray:
    """Per-replication Shapley estimates, shape (d, replications), from sampled orders."""
    v = _stack(values)
    replications = len(next(iter(v.values())))
    count, d = chosen.shape
    phi = np.zeros((d, replications))
    for row in chosen:
        mask = 0
        for lever in row:
            after = mask | (1 << int(lever))
            phi[int(lever)] += v[after] - v[mask]
            mask = after
    return phi / count


def interval(per_replication: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and the two-sided Student-t interval over replications (NaN width with one)."""
    from scipy.stats import t

    x = np.asarray(per_replication, dtype=float)
    mean = float(x.mean())
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(t.ppf(0.5 + level / 2, x.size - 1)) * float(x.std(ddof=1)) / math.sqrt(x.size)
    return mean, mean - half, mean + half
