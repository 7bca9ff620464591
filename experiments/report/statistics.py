"""Statistics of the report and the run summary: t-intervals, Wilson intervals, ratio bootstrap.

Every interval is a 95% one. A mean's is Student's t over replications (no width from a
single run); a share's is Wilson's, which stays within [0, 1]; a ratio of means gets a
percentile bootstrap with a fixed generator, so the same results give the same report.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

BOOTSTRAP = 2000  # resamples of a ratio interval
BOOTSTRAP_SEED = 20261127
WILSON_Z = 1.959963984540054  # the standard normal's 97.5% quantile


def t_half_width(sd: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Half-width of the t-based 95% interval of a mean of n values with standard deviation sd.

    NaN where it is undefined: fewer than two values, or no standard deviation.
    """
    from scipy import special  # here: scipy costs the command line's startup otherwise

    n = np.asarray(n, dtype=float)
    sd = np.asarray(sd, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        quantile = special.stdtrit(np.maximum(n - 1, 1), 0.975)
        half = quantile * sd / np.sqrt(np.maximum(n, 1))
    return np.where(n >= 2, half, np.nan)


def with_mean_ci(frame: pl.DataFrame, mean: str, sd: str, n: str) -> pl.DataFrame:
    """Add `lo`, `hi`: the t-based 95% interval of a mean (no width with a single run)."""
    sds = frame[sd].cast(pl.Float64).fill_null(np.nan).to_numpy()
    half = np.nan_to_num(t_half_width(sds, frame[n].to_numpy()))
    return frame.with_columns(lo=pl.col(mean) - pl.Series(half), hi=pl.col(mean) + pl.Series(half))


def with_wilson_ci(frame: pl.DataFrame, share: str, n: str) -> pl.DataFrame:
    """Add `lo`, `hi`: the Wilson 95% interval of a proportion."""
    z = WILSON_Z
    p = frame[share].to_numpy().astype(float)
    k = np.maximum(frame[n].to_numpy().astype(float), 1)
    centre = (p + z * z / (2 * k)) / (1 + z * z / k)
    half = z * np.sqrt(p * (1 - p) / k + z * z / (4 * k * k)) / (1 + z * z / k)
    # The interval holds p, within [0, 1]: at p = 0 or 1 rounding leaves a bound 1e-17 off.
    lo = np.clip(np.minimum(centre - half, p), 0.0, 1.0)
    hi = np.clip(np.maximum(centre + half, p), 0.0, 1.0)
    return frame.with_columns(lo=pl.Series(lo), hi=pl.Series(hi))


def ratio_interval(a: np.ndarray, b: np.ndarray, *, paired: bool) -> tuple[float, float, float]:
    """Ratio of means a/b with a 95% percentile bootstrap interval (fixed generator)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ratio = a.mean() / b.mean() if b.mean() else math.nan
    if len(a) < 2 or len(b) < 2 or not b.mean():
        return ratio, math.nan, math.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    ia = rng.integers(0, len(a), size=(BOOTSTRAP, len(a)))
    ib = ia if paired else rng.integers(0, len(b), size=(BOOTSTRAP, len(b)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = a[ia].mean(axis=1) / b[ib].mean(axis=1)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return ratio, math.nan, math.nan
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return ratio, float(lo), float(hi)
