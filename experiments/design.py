"""Design points x replications -> RunSpecs.

Designs: a full-factorial `grid` over listed values; a Latin hypercube (`lhs`, from
`scipy.stats.qmc`); `sobol` (Saltelli/Sobol' sequence) and `morris` (elementary-effect
trajectories) from SALib, ready for `SALib.analyze`. Sampled designs draw a unit hypercube
and scale it to each parameter's bounds: floats linearly, integers into equal-width bins
so every integer in [low, high] is equally likely. Parameters given as lists in a sampled
design are crossed with the sample (every sample row runs at every listed combination): so
with `[sweep.levers]` (lists) and `[sweep.uncertainties]` (bounds), every lever setting
meets the same sampled futures, in the same order.

Replication r of every design point gets the same root seed, SeedSequence(seed,
spawn_key=(r,)) (RunSpec derives it): policy comparisons are paired (common random numbers).
Specs are ordered replication-major, so an interrupted sweep already covers every point.
Design points with identical parameters (Morris trajectories can share points) share their
runs: `Plan.specs` holds each run once and `Plan.table()` maps every point to its run ids.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import polars as pl

from agents import parameters
from agents.parameters import ConfigError, Parameters, frozen
from experiments import policy_file
from experiments.config import ExperimentConfig
from experiments.sweep import NAMED_SWEEPS, SweptParameter
from sim.run import RunSpec


@frozen
class DesignPoint:
    """One combination of swept values."""

    index: int
    sample_index: int | None  # row of the sampled matrix (lhs, sobol, morris); None for grid
    values: tuple[tuple[str, Any], ...]  # swept key -> value, in config order

    def market(self, config: ExperimentConfig) -> str:
        return dict(self.values).get("market", config.market)

    def policy(self, config: ExperimentConfig) -> str:
        return dict(self.values).get("policy", config.policy)

    def overrides(self, config: ExperimentConfig) -> dict[str, Any]:
        """Dotted overrides of this point: the base's [base.set], then the swept values."""
        swept = {k: v for k, v in self.values if k not in NAMED_SWEEPS}
        return {**dict(config.overrides), **swept}


@frozen
class Plan:
    """Every design point and the runs that cover them."""

    config: ExperimentConfig
    points: tuple[DesignPoint, ...]
    specs: tuple[RunSpec, ...]  # unique runs, replication-major
    run_ids: tuple[tuple[str, ...], ...]  # run_ids[point][replication]

    @property
    def runs(self) -> int:
        return len(self.specs)

    def table(self) -> pl.DataFrame:
        """One row per (design point, replication): its run id and swept values."""
        swept = self.config.sweep.parameters
        rows = [
            {
                "design_point": p.index,
                "sample_index": p.sample_index,
                **{s.column: v for s, (_, v) in zip(swept, p.values, strict=True)},
                "replication": r,
                "run_id": run_id,
            }
            for p, ids in zip(self.points, self.run_ids, strict=True)
            for r, run_id in enumerate(ids)
        ]
        schema = {"design_point": pl.Int64, "sample_index": pl.Int64}
        schema |= {s.column: _dtype(s, self.points[0]) for s in swept}
        schema |= {"replication": pl.Int64, "run_id": pl.String}
        return pl.DataFrame(rows, schema=schema)

    def describe(self) -> dict[str, Any]:
        """The design for the manifest: kind, samples, and each swept key's values or bounds.

        `parameters` maps each swept key (in config order, which is the column order of a
        sampled design) to `{"values": [...]}` or `{"low": .., "high": .., "type": ..}`, plus
        the runs-table `column` it lands in and, for a sweep in levers and uncertainties, its
        `role` ("lever" or "uncertainty"); `levers` and `uncertainties` then list their
        runs-table columns (what `partnersim discover` groups by and analyses).
        """
        sweep = self.config.sweep
        parameters: dict[str, dict[str, Any]] = {}
        for s in sweep.parameters:
            if s.values is not None:
                entry: dict[str, Any] = {"values": list(s.values)}
            else:
                entry = {"low": s.bounds.low, "high": s.bounds.high}
                entry["type"] = type(s.bounds.low).__name__
            parameters[s.key] = {**entry, "column": s.column}
            if s.role is not None:
                parameters[s.key]["role"] = s.role
        described: dict[str, Any] = {"kind": sweep.design, "samples": sweep.samples}
        if sweep.design == "morris":
            described["levels"] = sweep.levels
        if sweep.design == "sobol":
            described["second_order"] = bool(sweep.second_order)
        described["parameters"] = parameters
        if sweep.levers or sweep.uncertainties:
            described["levers"] = [s.column for s in sweep.levers]
            described["uncertainties"] = [s.column for s in sweep.uncertainties]
        return described


def _dtype(swept: SweptParameter, point: DesignPoint) -> Any:
    value = dict(point.values)[swept.key]
    return {bool: pl.Boolean, int: pl.Int64, float: pl.Float64}.get(type(value), pl.String)


# --- design points -------------------------------------------------------------------------


def unit_sample(config: ExperimentConfig) -> np.ndarray:
    """The sampled design in the unit hypercube: one row per sample, one column per bound."""
    sweep = config.sweep
    names = [p.key for p in sweep.sampled]
    dims = len(names)
    if sweep.design == "lhs":
        from scipy.stats import qmc

        sampler = qmc.LatinHypercube(d=dims, rng=np.random.default_rng(config.seed))
        return sampler.random(sweep.samples)
    problem = {"num_vars": dims, "names": names, "bounds": [[0.0, 1.0]] * dims}
    if sweep.design == "sobol":
        from SALib.sample import sobol

        return sobol.sample(
            problem,
            sweep.samples,
            calc_second_order=bool(sweep.second_order),
            seed=config.seed,
        )
    if sweep.design == "morris":
        from SALib.sample import morris

        return morris.sample(problem, sweep.samples, num_levels=sweep.levels, seed=config.seed)
    raise ConfigError("sweep.design", sweep.design, "a sampled design (lhs, sobol, morris)")


def scale(unit: float, swept: SweptParameter) -> float | int:
    """A unit-interval coordinate scaled to a parameter's bounds (integers: equal bins)."""
    low, high = swept.bounds.low, swept.bounds.high
    if isinstance(low, int):
        return low + min(math.floor(unit * (high - low + 1)), high - low)
    return low + unit * (high - low)


def design_points(config: ExperimentConfig) -> tuple[DesignPoint, ...]:
    """All design points: listed values crossed (file order), times the sample if any."""
    sweep = config.sweep
    listed = sweep.listed
    combos = list(itertools.product(*(p.values for p in listed)))
    if sweep.design == "grid":
        rows: list[tuple[int | None, dict[str, Any]]] = [(None, {})]
    else:
        sample = unit_sample(config)
        rows = [
            (i, {p.key: scale(float(u), p) for p, u in zip(sweep.sampled, row, strict=True)})
            for i, row in enumerate(sample)
        ]
    points = []
    for combo in combos:
        fixed = {p.key: v for p, v in zip(listed, combo, strict=True)}
        for sample_index, sampled in rows:
            merged = fixed | sampled
            values = tuple((p.key, merged[p.key]) for p in sweep.parameters)
            points.append(DesignPoint(index=len(points), sample_index=sample_index, values=values))
    return tuple(points)


# --- runs ----------------------------------------------------------------------------------


def point_parameters(config: ExperimentConfig, point: DesignPoint, cache: dict) -> Parameters:
    """The model parameters of a design point; a bad combination names the swept key."""
    market, preset = point.market(config), point.policy(config)
    if (market, preset) not in cache:
        cache[market, preset] = (parameters.load_market(market), policy_file.resolve(preset))
    overrides = point.overrides(config)
    try:
        return parameters.build(*cache[market, preset], overrides)
    except ConfigError as err:
        swept = dict(point.values)
        if err.key in swept:
            others = ", ".join(f"{k}={v!r}" for k, v in point.values if k != err.key)
            context = f" (with {others})" if others else ""
            where = next(p.where for p in config.sweep.parameters if p.key == err.key)
            raise ConfigError(where, err.value, f"{err.expected}{context}") from None
        if err.key in dict(config.overrides):
            raise ConfigError(f"base.set.{err.key}", err.value, err.expected) from None
        raise ConfigError(
            f"sweep (design point {point.index}: {dict(point.values)}) {err.key}",
            err.value,
            err.expected,
        ) from None


def plan(config: ExperimentConfig) -> Plan:
    """Design points x replications -> unique RunSpecs, replication-major, with run ids."""
    return plan_points(config, design_points(config))


def plan_points(config: ExperimentConfig, points: tuple[DesignPoint, ...]) -> Plan:
    """The plan of the given design points (indexed 0, 1, ... in order) of `config`."""
    cache: dict = {}
    params = [point_parameters(config, p, cache) for p in points]
    specs: dict[str, RunSpec] = {}
    run_ids: list[list[str]] = [[] for _ in points]
    for replication in range(config.replications):
        for point, point_params in zip(points, params, strict=True):
            spec = RunSpec(
                params=point_params,
                years=config.years,
                seed=config.seed,
                replication=replication,
                experiment=config.name,
                design_point=point.index,
            )
            specs.setdefault(spec.run_id, spec)
            run_ids[point.index].append(spec.run_id)
    return Plan(
        config=config,
        points=points,
        specs=tuple(specs.values()),
        run_ids=tuple(tuple(ids) for ids in run_ids),
    )
