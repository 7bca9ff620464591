"""The only place random generators are made: keyed streams from one SeedSequence per run.

A stream's identity is (agent key, purpose), never the order in which streams are asked
for, so adding a process or an agent does not shift the numbers any other one draws, and
replication r of every policy sees the same client population (common random numbers).
"""

from __future__ import annotations

import numpy as np

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
)

# Agent keys: fixed per role so that a stream does not depend on how many agents exist.
VENDOR_KEY = 0
RESELLER_KEY = 1
ECONOMY_KEY = 2
REP_KEY_BASE = 1_000
CLIENT_KEY_BASE = 1_000_000


def root_sequence(entropy: int | None, spawn_key: tuple[int, ...] = ()) -> np.random.SeedSequence:
    """The run's root SeedSequence from (entropy, spawn key); fresh OS entropy when None."""
    return np.random.SeedSequence(entropy, spawn_key=tuple(spawn_key))


def stream(root: np.random.SeedSequence, agent_key: int, purpose: str) -> np.random.Generator:
    """The generator for one agent and one purpose, derived from the run's root sequence."""
    key = (*root.spawn_key, agent_key, PURPOSES.index(purpose))
    return np.random.default_rng(np.random.SeedSequence(root.entropy, spawn_key=key))
