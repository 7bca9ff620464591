"""The design's layout: what varies in an experiment, and how charts name and order it.

The manifest's `design` says which parameters were swept (`parameters`: each key's values
or bounds and the runs-table `column` it lands in) and how (`kind`: grid, lhs, sobol or
morris). Within a market, a design point is named by its `label`: the policy when several
are compared, then `name=value` for every other swept parameter; its `variant` leaves out
the numeric values, so sampled designs can be pooled per variant.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from agents.parameters import PRESET_NAMES
from experiments.config import NAMED_SWEEP_COLUMNS

MARKET = NAMED_SWEEP_COLUMNS["market"]
POLICY = NAMED_SWEEP_COLUMNS["policy"]


@dataclass(frozen=True, slots=True)
class Layout:
    """What varies in the experiment, and the labels and orders charts use."""

    kind: str  # grid | lhs | sobol | morris
    years: float
    markets: list[str]
    policies: list[str]
    numeric: list[str]  # grid: swept numeric columns; sampled designs: the sampled ones
    categorical: list[str]  # other swept columns (strings, booleans, listed values)
    bounds: dict[str, tuple[float, float]]  # sampled columns, in the sample matrix's order
    label_order: list[str]  # `label`: market-free name of a chart series
    variant_order: list[str]  # `variant`: policy and categorical values, no numeric ones
    notes: list[str] = field(default_factory=list)

    @property
    def horizon(self) -> str:
        return f"{self.years:g}-year"


def policy_rank(name: str) -> tuple[int, str]:
    """Presets in their declared order, then other names alphabetically."""
    return (PRESET_NAMES.index(name), "") if name in PRESET_NAMES else (len(PRESET_NAMES), name)


def short(name: str) -> str:
    """`policy.patience_months` -> `patience_months`."""
    return name.split(".", 1)[-1]


def _value_text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def design_layout(runs: pl.DataFrame, manifest: dict[str, Any]) -> Layout:
    """Read the design from the manifest, checked against what actually varies in the runs."""
    design = manifest["design"]
    kind = design["kind"]
    declared = {spec["column"]: spec for spec in design["parameters"].values()}
    varying = {c for c in declared if c in runs.columns and runs[c].n_unique() > 1}
    notes: list[str] = []
    missing = [c for c in declared if c not in runs.columns]
    if missing:
        notes.append(f"swept {', '.join(missing)} not found in the runs table")
    swept = [c for c in declared if c in varying and c not in (MARKET, POLICY)]
    sampled = kind != "grid"
    bounds: dict[str, tuple[float, float]] = {}
    numeric, categorical = [], []
    for c in swept:
        spec = declared[c]
        if sampled and "low" in spec:
            bounds[c] = (float(spec["low"]), float(spec["high"]))
            numeric.append(c)
        elif not sampled and runs.schema[c].is_numeric():
            numeric.append(c)
        else:
            categorical.append(c)
    markets = sorted(runs[MARKET].unique().to_list())
    policies = sorted(runs[POLICY].unique().to_list(), key=policy_rank)
    layout = Layout(
        kind=kind,
        years=float(manifest["years"]),
        markets=markets,
        policies=policies,
        numeric=numeric,
        categorical=categorical,
        bounds=bounds,
        label_order=[],
        variant_order=[],
        notes=notes,
    )
    order = _design_order(with_labels(runs, layout), layout)
    return dataclasses.replace(
        layout,
        label_order=order["label"].unique(maintain_order=True).to_list(),
        variant_order=order["variant"].unique(maintain_order=True).to_list(),
    )


def with_labels(runs: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """Add `market`, `policy`, `variant` (policy and categorical values) and `label`.

    The label names a design point within a market: the policy when several are compared,
    then `name=value` for every other swept parameter. Markets are panels, not labels.
    """
    variant_parts: list[pl.Expr] = []
    if len(layout.policies) > 1 or not (layout.categorical or layout.numeric):
        variant_parts.append(pl.col(POLICY))
    for name in layout.categorical:
        variant_parts.append(pl.format(f"{short(name)}={{}}", pl.col(name).cast(pl.String)))
    label_parts = list(variant_parts)
    for name in layout.numeric:
        text = pl.col(name).map_elements(_value_text, return_dtype=pl.String)
        label_parts.append(pl.format(f"{short(name)}={{}}", text))
    if not variant_parts:
        variant_parts = [pl.col(POLICY)]
    return runs.with_columns(
        market=pl.col(MARKET).cast(pl.String),
        policy=pl.col(POLICY).cast(pl.String),
        variant=pl.concat_str(variant_parts, separator=", "),
        label=pl.concat_str(label_parts, separator=", "),
    )


def series_title(layout: Layout, key: str | None, *, with_market: bool = False) -> str:
    """What a chart's series stand for, for its legend: `policy`, `policy, patience_months` ..."""
    parts = []
    if len(layout.policies) > 1 or not (layout.categorical or layout.numeric):
        parts.append("policy")
    parts += [short(c) for c in layout.categorical]
    if key == "label":
        parts += [short(c) for c in layout.numeric]
    title = ", ".join(parts) or "policy"
    return f"market / {title}" if with_market else title


def _design_order(labelled: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    rank = labelled["policy"].map_elements(lambda p: policy_rank(p)[0], return_dtype=pl.Int64)
    return labelled.with_columns(_rank=rank).sort(
        ["_rank", "policy", *layout.categorical, *layout.numeric, "design_point"]
    )


def focus_market(layout: Layout) -> str | None:
    """The market captions speak of first: Japan when present."""
    if "japan" in layout.markets:
        return "japan"
    return layout.markets[0] if layout.markets else None
