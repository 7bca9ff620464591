"""Wiring, clock, randomness and recording of the partnership model; no decision logic."""

from sim.model import PartnershipModel
from sim.run import RunResult, RunSpec, make_spec, simulate

__all__ = ["PartnershipModel", "RunResult", "RunSpec", "make_spec", "simulate"]
