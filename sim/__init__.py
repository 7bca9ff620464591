"""Wiring, clock, randomness and recording of the partnership model; no decision logic.

The names below are imported when first used, so a process that only plans, sends or
stores runs (the command line, a sweep's driver) does not import Mesa and the model.
"""

import importlib

_HOMES = {
    "PartnershipModel": "sim.model",
    "RunResult": "sim.run",
    "RunSpec": "sim.run",
    "make_spec": "sim.run",
    "simulate": "sim.run",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
