"""The only place random generators are made: keyed streams from one SeedSequence per run.

A stream's identity is (agent key, purpose), never the order in which streams are asked
for, so adding a process or an agent does not shift the numbers any other one draws, and
replication r of every policy sees the same client population (common random numbers).

Each agent's SeedSequence, spawned from the run's root by the agent key, gives one 128-bit
seed per purpose. A stream is a `Draws`: Python's Mersenne Twister seeded with it, because
the model draws one or two numbers per SimPy event and a scalar call into numpy costs about
as much as the event itself. Streams are made when first asked for, so the clients nobody
prospects cost one SeedSequence each.
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

from agents.parameters import ConfigError, is_integer

PURPOSES = (
    "population",
    "prospecting",
    "meetings",
    "nurturing",
    "documents",
    "ringi",
    "evaluation",
    "incidents",
    "account",
    "reviews",
    "visits",
    "economy",
    "enablement",
    "executive_visits",
    "competition",
)  # append only: a purpose's seed is its place in this tuple

# Agent keys: fixed per role so that a stream does not depend on how many agents exist.
VENDOR_KEY = 0
RESELLER_KEY = 1
ECONOMY_KEY = 2
REP_KEY_BASE = 1_000
CLIENT_KEY_BASE = 1_000_000

SEED_WORDS = 4  # 32-bit words per stream seed


def entropy(seed: Any) -> int | None:
    """A seed as a plain int (any integer type: `3` and `numpy.int64(3)` are one seed), or
    None for fresh OS entropy; ConfigError for anything else."""
    if seed is None:
        return None
    if not is_integer(seed) or seed < 0:
        raise ConfigError("seed", seed, "a non-negative integer")
    return int(seed)


def root_sequence(entropy: int | None, spawn_key: tuple[int, ...] = ()) -> np.random.SeedSequence:
    """The run's root SeedSequence from (entropy, spawn key); fresh OS entropy when None."""
    return np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))


class Draws(random.Random):
    """One stream's random numbers: `random()`, `uniform()` and `gauss()` as Python's, plus
    numpy-style `exponential(mean)` and `integers(low, high)`, made by inversion."""

    def exponential(self, mean: float) -> float:
        """An exponential variate with the given mean."""
        return -mean * math.log(1.0 - self.random())

    def integers(self, low: int, high: int | None = None) -> int:
        """An integer in [low, high), or in [0, low) when high is omitted (as numpy's)."""
        if high is None:
            low, high = 0, low
        return low + int((high - low) * self.random())


class Streams:
    """An agent's streams by purpose, `streams["meetings"]`, each made when first asked for."""

    __slots__ = ("_made", "_seeds")

    def __init__(self, root: np.random.SeedSequence, agent_key: int) -> None:
        sequence = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, agent_key))
        self._seeds = sequence.generate_state(SEED_WORDS * len(PURPOSES), np.uint32)
        self._made: dict[str, Draws] = {}

    def __getitem__(self, purpose: str) -> Draws:
        draws = self._made.get(purpose)
        if draws is None:
            draws = self._made[purpose] = self.fresh(purpose)
        return draws

    def fresh(self, purpose: str) -> Draws:
        """The purpose's stream from its start, not kept: for draws made once, such as the
        population at construction (each stream's state takes 2.5 KB)."""
        start = SEED_WORDS * PURPOSES.index(purpose)
        return Draws(int.from_bytes(self._seeds[start : start + SEED_WORDS].tobytes(), "little"))


def stream(root: np.random.SeedSequence, agent_key: int, purpose: str) -> Draws:
    """The random stream for one agent and one purpose, derived from the run's root sequence."""
    return Streams(root, agent_key)[purpose]
