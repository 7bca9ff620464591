"""PRIM through EMA Workbench: the only module that imports `ema_workbench`.

EMA Workbench is an optional extra (`pip install 'partnersim[discovery]'`). Importing it
takes seconds, imports matplotlib, seaborn and scikit-learn and warns about optional
packages it does not find, so it is imported here only, lazily, with its warnings silenced.
Everything else in partnersim sees plain data: `find_boxes(x, y, ...)` takes the
uncertainties as named numpy columns and the cases of interest as a boolean array, and
returns `Box` records. When EMA Workbench's API changes (the 3.x series), this file changes.

How a box is chosen. PRIM peels the space one slice at a time, each step trading coverage
(the share of all cases of interest inside the box) for density (the share of the box's runs
that are cases of interest); the steps are the peeling trajectory. EMA Workbench leaves the
choice of a step to its user; here the chosen step is the one with the most coverage among
those whose density reaches `threshold` (ties: the denser, then the fewer restricted
uncertainties), or, when none does, the densest. Then restrictions that are not significant
are dropped, the least significant first, while a limit's quasi-p value (Bryant and Lempert
2010: a one-sided binomial test of the limit) exceeds `max_qp`: with few runs, peeling also
trims uncertainties that do not matter. Each drop appends the wider box to the trajectory
(EMA Workbench's `drop_restriction`), which is then the chosen step. Later boxes are looked
for among the runs outside the boxes already chosen (EMA Workbench's default update), while
the boxes before reach the threshold and cases of interest remain.
"""

from __future__ import annotations

import importlib.util
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

EXTRA = "discovery"
INSTALL = (
    "pip install 'partnersim[discovery]' (in a source checkout: "
    "pip install -e '.[discovery]'), which installs ema-workbench 2.5"
)
# PRIM's own defaults (Friedman and Fisher's alpha of 0.05; boxes of at least 5% of the runs).
PEEL_ALPHA = 0.05
PASTE_ALPHA = 0.05
MASS_MIN = 0.05
MAX_QP = 0.05  # a restriction whose quasi-p value is above this is dropped


class PrimUnavailable(Exception):
    """EMA Workbench is not installed (or does not import): the message says how to get it."""


@dataclass(frozen=True, slots=True)
class Step:
    """One box on the peeling trajectory."""

    coverage: float  # cases of interest in the box / all cases of interest
    density: float  # cases of interest in the box / runs in the box
    mass: float  # runs in the box / all runs
    restricted: int  # uncertainties the box restricts
    runs: int  # runs in the box
    cases: int  # cases of interest in the box


@dataclass(frozen=True, slots=True)
class Limit:
    """A box's range of one uncertainty; `restricted` when narrower than the data's."""

    low: float
    high: float
    restricted: bool
    qp_low: float | None  # quasi-p value of the lower limit (Bryant and Lempert 2010)
    qp_high: float | None


@dataclass(frozen=True, slots=True)
class Box:
    """A box PRIM found: its trajectory, the chosen step and the limits at that step."""

    trajectory: tuple[Step, ...]
    chosen: int  # index into trajectory
    limits: dict[str, Limit]  # every uncertainty, in the order given
    meets_threshold: bool

    @property
    def step(self) -> Step:
        return self.trajectory[self.chosen]


def available() -> bool:
    """Whether EMA Workbench is installed (without importing it)."""
    return importlib.util.find_spec("ema_workbench") is not None


def require() -> None:
    """PrimUnavailable, saying how to install the extra, unless EMA Workbench is there."""
    if not available():
        raise PrimUnavailable(f"discover needs EMA Workbench's PRIM: {INSTALL}")


def _prim() -> Any:
    require()
    try:
        with warnings.catch_warnings():  # "ipyparallel not installed" and the like
            warnings.simplefilter("ignore")
            from ema_workbench.analysis import prim
    except ImportError as err:  # installed but broken (a missing or incompatible dependency)
        raise PrimUnavailable(f"EMA Workbench does not import ({err}); {INSTALL}") from None
    return prim


def _qp(values: list[float]) -> float:
    """A limit's larger quasi-p value over its restricted sides (EMA Workbench: -1 if free)."""
    return max((float(v) for v in values if v is not None and v >= 0), default=-1.0)


def _trajectory(box: Any) -> tuple[Step, ...]:
    return tuple(
        Step(
            coverage=float(r["coverage"]),
            density=float(r["density"]),
            mass=float(r["mass"]),
            restricted=int(r["res_dim"]),
            runs=int(r["n"]),
            cases=int(r["k"]),
        )
        for _, r in box.peeling_trajectory.iterrows()
    )


def choose(trajectory: tuple[Step, ...], threshold: float) -> int:
    """The chosen step: most coverage with density >= threshold, else the densest."""
    steps = list(enumerate(trajectory))
    dense = [(i, s) for i, s in steps if s.density >= threshold]
    if dense:
        return max(dense, key=lambda t: (t[1].coverage, t[1].density, -t[1].restricted))[0]
    return max(steps, key=lambda t: (t[1].density, t[1].coverage))[0]


def find_boxes(
    x: dict[str, np.ndarray],
    y: np.ndarray,
    *,
    threshold: float,
    max_boxes: int,
    peel_alpha: float = PEEL_ALPHA,
    paste_alpha: float = PASTE_ALPHA,
    mass_min: float = MASS_MIN,
    max_qp: float = MAX_QP,
) -> list[Box]:
    """Boxes of the uncertainties `x` (name -> one value per run) where `y` (bool) is true.

    No box when no run, or every run, is a case of interest (there is nothing to separate).
    """
    y = np.asarray(y, dtype=bool)
    if not y.any() or y.all():
        return []
    prim = _prim()
    import pandas as pd  # EMA Workbench's own dependency

    # Every column as a float: EMA Workbench 2.5 pastes an integer column's limit to a
    # midpoint (9.5), which pandas 3 refuses to store in an int64 column; an integer limit
    # of 9.5 reads as "10 and above".
    frame = pd.DataFrame({name: np.asarray(v, dtype=np.float64) for name, v in x.items()})
    boxes: list[Box] = []
    with warnings.catch_warnings():  # pandas deprecations inside EMA Workbench 2.5
        warnings.simplefilter("ignore")
        # EMA Workbench's threshold both counts the cases of interest (y >= it) and
        # replaces a final box less dense than it by the whole space. Just above 0, every
        # true y is a case and the trajectory is always kept: the step is chosen here
        # (`choose`), with the density threshold the caller gave.
        algorithm = prim.Prim(
            frame,
            y.astype(np.int64),
            threshold=float(np.nextafter(0.0, 1.0)),
            peel_alpha=peel_alpha,
            paste_alpha=paste_alpha,
            mass_min=mass_min,
        )
        initial = algorithm.box_init
        covered = np.zeros(y.size, dtype=bool)
        while len(boxes) < max_boxes and (y & ~covered).any():
            box = algorithm.find_box()
            if box is None:
                break
            chosen = choose(_trajectory(box), threshold)
            box.select(chosen)
            while True:  # drop the least significant restriction while one is not significant
                worst = max(box.qp[chosen].items(), key=lambda kv: _qp(kv[1]), default=None)
                if worst is None or _qp(worst[1]) <= max_qp:
                    break
                box.drop_restriction(worst[0], i=chosen)
                chosen = len(box.box_lims) - 1
            trajectory = _trajectory(box)
            lims, qp = box.box_lims[chosen], box.qp[chosen]
            limits = {}
            for name in x:
                low, high = float(lims[name].iloc[0]), float(lims[name].iloc[1])
                first, last = float(initial[name].iloc[0]), float(initial[name].iloc[1])
                p = [None if v is None or v < 0 else float(v) for v in qp.get(name, [None, None])]
                limits[name] = Limit(low, high, low > first or high < last, p[0], p[1])
            meets = trajectory[chosen].density >= threshold
            boxes.append(Box(trajectory, chosen, limits, meets))
            covered[np.asarray(box.yi)] = True
            if not meets:
                break
    return boxes
