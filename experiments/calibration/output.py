"""What a calibration writes: market files, the targets and trials tables, the printed table.

    DIR/markets/<market>.toml   a complete market profile, loadable like agents/markets/*.toml
                                (`read_market_file`), with the best trial's free values
    DIR/best.toml               the best trial: number, losses, every free value by market
    DIR/targets.parquet         per target: value and 95% interval on the fresh replications,
                                range, in range or not, its loss; the search's value too
    DIR/trials.parquet          per trial: state, loss, free values, every target's value, and
                                for finalists the loss on fresh replications

Every file is written whole or not at all (`experiments.store.atomic`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from agents import parameters
from agents.parameters import ConfigError, Culture, Market
from experiments.calibration.statistics import REGISTRY, Estimate
from experiments.calibration.targets import Calibration, Target
from experiments.config import toml_text
from experiments.store import WriteError, write_atomically, write_bytes_atomically


def target_column(calibration: Calibration, target: Target) -> str:
    """A target's column in trials.parquet: `win_rate[us/us_urgency]` (`#i` if repeated)."""
    base = f"{target.statistic}[{target.market}/{target.policy}]"
    repeated = sum(f"{t.statistic}[{t.market}/{t.policy}]" == base for t in calibration.targets)
    return f"{base}#{target.index}" if repeated > 1 else base


# --- market files --------------------------------------------------------------------------


def calibrated_market(calibration: Calibration, market: str, values: dict[str, Any]) -> Market:
    """The market profile with the free `market.*` values of `values` applied."""
    overrides = {
        p.key: values[p.name]
        for p in calibration.free
        if p.market == market and p.key.startswith("market.")
    }
    params = parameters.with_overrides(
        parameters.Parameters(market=parameters.load_market(market)), overrides
    )
    return params.market


def market_toml(market: Market, header: list[str]) -> str:
    """A market profile as TOML: every field but `name`, then `[culture]`."""
    document: dict[str, Any] = {}
    for f in dataclasses.fields(market):
        if f.name in ("name", "culture"):
            continue
        document[f.name] = getattr(market, f.name)
    document["culture"] = {
        f.name: getattr(market.culture, f.name) for f in dataclasses.fields(Culture)
    }
    comments = "".join(f"# {line}\n" for line in header)
    return comments + toml_text(document)


def read_market_file(path: str | Path) -> Market:
    """A market profile from a TOML file, as `agents.parameters.load_market` reads its own.

    The market's name is the file's stem; unknown keys and bad values raise ConfigError.
    """
    path = Path(path)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    culture = data.pop("culture", {})
    for prefix, table, cls in (("market.culture", culture, Culture), ("market", data, Market)):
        names = {f.name for f in dataclasses.fields(cls)} - {"name", "culture"}
        for key, value in table.items():
            if key not in names:
                raise ConfigError(f"{prefix}.{key}", value, "a known parameter name")
    return Market(name=path.stem, culture=Culture(**culture), **data)


# --- tables --------------------------------------------------------------------------------


def trials_frame(
    calibration: Calibration,
    trials: list[Any],
    check_losses: dict[int, float] | None = None,
    chosen: int | None = None,
) -> pl.DataFrame:
    """One row per stored trial: state, loss, seconds, free values, target values, checks."""
    check_losses = check_losses or {}
    rows = []
    for t in trials:
        statistics = t.user_attrs.get("statistics", {})
        row: dict[str, Any] = {
            "trial": t.number,
            "state": t.state.name.lower(),
            "loss": t.value,
            "check_loss": check_losses.get(t.number),
            "chosen": t.number == chosen,
            "seconds": t.user_attrs.get("seconds"),
            "error": t.user_attrs.get("error"),
        }
        for p in calibration.free:
            row[p.name] = t.params.get(p.name)
        for target in calibration.targets:
            row[target_column(calibration, target)] = _float(statistics.get(str(target.index)))
        rows.append(row)
    schema: dict[str, Any] = {
        "trial": pl.Int64,
        "state": pl.String,
        "loss": pl.Float64,
        "check_loss": pl.Float64,
        "chosen": pl.Boolean,
        "seconds": pl.Float64,
        "error": pl.String,
    }
    for p in calibration.free:
        schema[p.name] = pl.Int64 if isinstance(p.low, int) else pl.Float64
    for target in calibration.targets:
        schema[target_column(calibration, target)] = pl.Float64
    return pl.DataFrame(rows, schema=schema)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def targets_frame(
    calibration: Calibration,
    estimates: dict[int, Estimate],
    search_values: dict[int, float | None],
) -> pl.DataFrame:
    """One row per target: the chosen values' statistic on fresh replications, and its range."""
    from experiments.calibration.search import in_range, target_loss

    rows = []
    for t in calibration.targets:
        e = estimates[t.index]
        rows.append(
            {
                "target": t.index,
                "label": t.label,
                "statistic": t.statistic,
                "unit": REGISTRY[t.statistic].unit,
                "market": t.market,
                "policy": t.policy,
                "set": json.dumps(dict(t.overrides), sort_keys=True),
                "low": t.low,
                "high": t.high,
                "value": e.value,
                "ci_low": e.low,
                "ci_high": e.high,
                "runs": e.runs,
                "in_range": in_range(t, e),
                "loss": target_loss(t, e),
                "search_value": search_values.get(t.index),
            }
        )
    schema = {
        "target": pl.Int64,
        "label": pl.String,
        "statistic": pl.String,
        "unit": pl.String,
        "market": pl.String,
        "policy": pl.String,
        "set": pl.String,
        "low": pl.Float64,
        "high": pl.Float64,
        "value": pl.Float64,
        "ci_low": pl.Float64,
        "ci_high": pl.Float64,
        "runs": pl.Int64,
        "in_range": pl.Boolean,
        "loss": pl.Float64,
        "search_value": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


# --- writing -------------------------------------------------------------------------------


def write_results(
    root: Path,
    calibration: Calibration,
    best: Any,
    check_loss: float,
    targets: pl.DataFrame,
    trials: pl.DataFrame,
) -> list[Path]:
    """Write the market files, best.toml and both tables; returns the paths written."""
    written: list[Path] = []
    markets = list(dict.fromkeys(p.market for p in calibration.free if p.market))
    folder = root / "markets"
    try:
        if markets:
            folder.mkdir(exist_ok=True)
    except OSError as err:
        raise WriteError(folder, err) from None
    for market in markets:
        header = [
            f"{market}: calibrated by `partnersim calibrate` ({calibration.name}), trial "
            f"{best.number}",
            f"loss {best.value:.4g} on the search's replications, {check_loss:.4g} on fresh ones",
            "free: "
            + ", ".join(
                f"{p.key.removeprefix('market.')}" for p in calibration.free if p.market == market
            ),
        ]
        text = market_toml(calibrated_market(calibration, market, best.params), header)
        path = folder / f"{market}.toml"
        _write(path, lambda p, text=text: write_bytes_atomically(p, text.encode()))
        written.append(path)
    document: dict[str, Any] = {
        "name": calibration.name,
        "trial": best.number,
        "loss": best.value,
        "check_loss": check_loss,
    }
    shared = {p.key: best.params[p.name] for p in calibration.free if p.market is None}
    if shared:
        document["set"] = shared
    for market in markets:
        document[market] = {
            p.key: best.params[p.name] for p in calibration.free if p.market == market
        }
    path = root / "best.toml"
    text = toml_text(document, quoted=("set", *markets))
    _write(path, lambda p: write_bytes_atomically(p, text.encode()))
    written.append(path)
    for name, frame in (("targets", targets), ("trials", trials)):
        path = root / f"{name}.parquet"
        _write(path, lambda p, frame=frame: write_atomically(p, frame.write_parquet))
        written.append(path)
    return written


def _write(path: Path, write: Any) -> None:
    try:
        write(path)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise WriteError(path, err) from None


# --- the printed table ---------------------------------------------------------------------


def shown(value: float | None, unit: str) -> str:
    """A statistic's value in its unit: 27.3%, $412k, 95 days, month 31, never, n/a."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "never"
    if unit == "share":
        return f"{value:.1%}"
    if unit == "usd":
        from experiments.report.formatting import money

        return money(value)
    if unit == "days":
        return f"{value:.0f} days"
    if unit == "month":
        return f"month {value:.0f}"
    return f"{value:.4g}"


def format_targets(targets: pl.DataFrame) -> str:
    """The targets table as aligned text: value, 95% interval, range, in range."""
    headers = ["target", "value", "95% CI", "range", "in range"]
    rows = []
    for r in targets.iter_rows(named=True):
        unit = r["unit"]
        if r["ci_low"] is None or r["ci_high"] is None:
            interval = "n/a"
        else:
            interval = f"{shown(r['ci_low'], unit)} to {shown(r['ci_high'], unit)}"
        rows.append(
            [
                r["label"],
                shown(r["value"], unit),
                interval,
                f"{shown(r['low'], unit)} to {shown(r['high'], unit)}",
                "yes" if r["in_range"] else "no",
            ]
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
    lines = []
    for cells in [headers, *rows]:
        parts = [
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
