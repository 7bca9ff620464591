"""Sensitivity analysis of sampled designs with SALib: Sobol indices or Morris screening.

The problem (names, bounds, order) comes from the manifest's design, Y is the mean outcome
per design point in sample order, and Morris' X is the design points' parameter values
scaled to the unit interval (only the direction of each step matters to SALib).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import polars as pl

from experiments.report.aggregates import outcomes, sample_means
from experiments.report.layout import Layout

# SALib's Sobol analysis seeds its bootstrap only with a truthy seed (0 draws from numpy's
# global generator, so the intervals changed from report to report).
SOBOL_SEED = 20261127
MORRIS_SEED = 0


def _problem(layout: Layout) -> dict[str, Any]:
    names = list(layout.numeric)
    bounds = [list(layout.bounds[n]) for n in names]
    return {"num_vars": len(names), "names": names, "bounds": bounds}


def sensitivity_indices(
    runs: pl.DataFrame, layout: Layout, manifest: dict[str, Any], design: pl.DataFrame
) -> tuple[pl.DataFrame, list[str]]:
    """SALib Sobol (S1, ST) or Morris (mu*, sigma) indices per group and outcome.

    A group is a market and variant. Returns the indices and notes on whatever could not
    be analysed.
    """
    from SALib.analyze import morris, sobol

    problem = _problem(layout)
    spec = manifest["design"]
    means = sample_means(runs, layout, design)
    notes: list[str] = []
    frames = []
    lows = np.array([b[0] for b in problem["bounds"]])
    spans = np.array([b[1] - b[0] for b in problem["bounds"]])
    for (market, variant), group in means.group_by(["market", "variant"], maintain_order=True):
        where = f"{market} / {variant}"
        unit = (group.select(layout.numeric).to_numpy() - lows) / np.where(spans == 0, 1, spans)
        for outcome in outcomes(layout):
            y = group[outcome.column].to_numpy()
            if np.isnan(y).any() or np.std(y) == 0:
                notes.append(f"{layout.kind} ({where}): {outcome.name} is constant; not analysed")
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if layout.kind == "sobol":
                        second = bool(spec["second_order"])
                        si = sobol.analyze(problem, y, calc_second_order=second, seed=SOBOL_SEED)
                    else:
                        levels = int(spec["levels"])
                        si = morris.analyze(problem, unit, y, num_levels=levels, seed=MORRIS_SEED)
            except (ValueError, RuntimeError, IndexError) as err:
                notes.append(
                    f"{layout.kind} ({where}): {outcome.name} not analysed "
                    f"({group.height} design points with results): {err}"
                )
                continue
            frame = {"market": market, "variant": variant, "outcome": outcome.name}
            if layout.kind == "sobol":
                for index in ("S1", "ST"):
                    value = np.asarray(si[index], float)
                    conf = np.asarray(si[f"{index}_conf"], float)
                    frames.append(
                        pl.DataFrame(
                            {**frame, "parameter": problem["names"], "index": index}
                        ).with_columns(
                            value=pl.Series(value),
                            lo=pl.Series(value - conf),
                            hi=pl.Series(value + conf),
                        )
                    )
            else:
                frames.append(
                    pl.DataFrame({**frame, "parameter": problem["names"]}).with_columns(
                        mu_star=pl.Series(np.asarray(si["mu_star"], float)),
                        mu_star_conf=pl.Series(np.asarray(si["mu_star_conf"], float)),
                        sigma=pl.Series(np.asarray(si["sigma"], float)),
                    )
                )
    frame = pl.concat(frames).fill_nan(None) if frames else pl.DataFrame()
    return frame, notes
