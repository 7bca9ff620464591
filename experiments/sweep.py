"""What an experiment sweeps: the swept keys (a list of values or bounds each), the table each
was given in (`[sweep.parameters]`, or `[sweep.levers]` and `[sweep.uncertainties]`), the
design and its options, and the checks that need nothing but the sweep itself.

Levers are what the vendor chooses (`policy` presets and `policy.*` levers, as lists): they
are crossed with everything else. Uncertainties are the rates no one chooses, which a
sampled design samples: every lever setting meets the same sampled futures. The checks
against the model's parameters (each value built with every base) are `experiments.config`'s.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from agents.parameters import MISSING, frozen, is_real
from experiments import policy_file
from experiments.toml_io import check_parameter_name, flatten_dotted, integer_in, table, value_error

DESIGNS = ("grid", "lhs", "sobol", "morris")
# Sweep keys whose values are names (market profiles, policy presets), not parameter values.
NAMED_SWEEPS = ("market", "policy")
# The runs-table column that records a named sweep.
NAMED_SWEEP_COLUMNS = {"market": "market.name", "policy": "policy.name"}

SWEEP_KEYS = (
    "design",
    "samples",
    "levels",
    "second_order",
    "parameters",
    "levers",
    "uncertainties",
)
# The tables a sweep's keys are read from; a key's role is the table it was given in.
SWEEP_TABLES = {"parameters": None, "levers": "lever", "uncertainties": "uncertainty"}
ROLE_TABLES = {role: name for name, role in SWEEP_TABLES.items()}
DEFAULT_MORRIS_LEVELS = 4


@frozen
class Bounds:
    """A parameter sampled between `low` and `high` (inclusive) by lhs, sobol or morris."""

    low: float
    high: float


@frozen
class SweptParameter:
    """One swept key: either a list of `values` (grid) or `bounds` (sampled designs)."""

    key: str  # dotted parameter name, or `market` / `policy`
    values: tuple[Any, ...] | None = None
    bounds: Bounds | None = None
    role: str | None = None  # "lever", "uncertainty", or None (given in [sweep.parameters])

    def __post_init__(self) -> None:
        if self.role not in ROLE_TABLES:
            raise value_error(f"{self.where}.role", self.role, "lever, uncertainty or none")
        if (self.values is None) == (self.bounds is None):
            raise value_error(self.where, MISSING, "a list of values or bounds")

    @property
    def column(self) -> str:
        """The runs-table column holding this parameter (`policy` -> `policy.name`)."""
        return NAMED_SWEEP_COLUMNS.get(self.key, self.key)

    @property
    def where(self) -> str:
        """The config key that gives it: `sweep.levers.policy` or `sweep.parameters.x`."""
        return f"sweep.{ROLE_TABLES.get(self.role, 'parameters')}.{self.key}"


@frozen
class Sweep:
    """How design points are generated from the swept parameters."""

    design: str = "grid"
    samples: int | None = None  # lhs: points; sobol: base samples N; morris: trajectories
    levels: int | None = None  # morris grid levels (default 4)
    second_order: bool | None = None  # sobol: also second-order indices (default false)
    parameters: tuple[SweptParameter, ...] = ()

    @property
    def sampled(self) -> tuple[SweptParameter, ...]:
        """Parameters given as bounds, in file order."""
        return tuple(p for p in self.parameters if p.bounds is not None)

    @property
    def listed(self) -> tuple[SweptParameter, ...]:
        """Parameters given as lists of values, in file order."""
        return tuple(p for p in self.parameters if p.values is not None)

    @property
    def levers(self) -> tuple[SweptParameter, ...]:
        """Parameters given in [sweep.levers]: the vendor's choices, crossed with the rest."""
        return tuple(p for p in self.parameters if p.role == "lever")

    @property
    def uncertainties(self) -> tuple[SweptParameter, ...]:
        """Parameters given in [sweep.uncertainties]: what no one chooses."""
        return tuple(p for p in self.parameters if p.role == "uncertainty")


def from_dict(sweep: dict[str, Any]) -> Sweep:
    """The `[sweep]` table as a Sweep: its keys read from their tables, with their roles."""
    design = sweep.get("design", "grid")
    if design not in DESIGNS:
        raise value_error("sweep.design", design, "one of " + ", ".join(DESIGNS))
    given = [t for t in SWEEP_TABLES if t in sweep]
    if "parameters" in given and len(given) > 1:  # which keys are levers would be unclear
        raise value_error(
            f"sweep.{given[1]}",
            sweep[given[1]],
            "no [sweep.parameters] beside it (name the parameters, or the levers and "
            "uncertainties, not both)",
        )
    swept = []
    for name in given:
        swept += _swept_from_table(name, table(sweep, name, f"sweep.{name}"))
    return Sweep(
        design=design,
        samples=sweep.get("samples"),
        levels=sweep.get("levels"),
        second_order=sweep.get("second_order"),
        parameters=tuple(swept),
    )


def _swept_from_table(name: str, raw: dict[str, Any]) -> list[SweptParameter]:
    """The keys of `[sweep.<name>]`, each a list of values or bounds, with the table's role."""
    role = SWEEP_TABLES[name]
    swept = []
    for key, value in flatten_dotted(f"sweep.{name}", raw).items():
        where = f"sweep.{name}.{key}"
        check_parameter_name(where, key, value, NAMED_SWEEPS)  # before the value's form
        if isinstance(value, list):
            swept.append(SweptParameter(key=key, values=tuple(value), role=role))
        elif isinstance(value, dict):
            extra = sorted(set(value) - {"low", "high"})
            if extra:
                raise value_error(f"{where}.{extra[0]}", value[extra[0]], "only low and high")
            for end in ("low", "high"):
                if end not in value:
                    raise value_error(f"{where}.{end}", MISSING, f"a number ({end} bound)")
                if not is_real(value[end]):
                    raise value_error(f"{where}.{end}", value[end], "a number")
            swept.append(SweptParameter(key=key, bounds=Bounds(**value), role=role))
        else:
            raise value_error(
                where, value, "a list of values [a, b, ...] or bounds { low = ..., high = ... }"
            )
    return swept


def validate_options(sweep: Sweep) -> None:
    """The design and its options, the roles, one key per column, bounds where sampled."""
    kind = sweep.design
    if kind not in DESIGNS:
        raise value_error("sweep.design", kind, "one of " + ", ".join(DESIGNS))
    if kind == "grid":
        if sweep.samples is not None:
            raise value_error(
                "sweep.samples", sweep.samples, "no samples for a grid (values listed)"
            )
    else:
        integer_in("sweep.samples", sweep.samples, 1, 10_000_000)
        if kind == "sobol" and sweep.samples & (sweep.samples - 1):
            raise value_error(
                "sweep.samples", sweep.samples, "a power of 2 for sobol (e.g. 64, 128)"
            )
    if sweep.levels is not None:
        if kind != "morris":
            raise value_error("sweep.levels", sweep.levels, "levels only with design = 'morris'")
        integer_in("sweep.levels", sweep.levels, 2, 1000)
        if sweep.levels % 2:  # Morris trajectories are balanced only on an even grid
            raise value_error("sweep.levels", sweep.levels, "an even number of levels (e.g. 4)")
    if sweep.second_order is not None:
        if kind != "sobol":
            raise value_error(
                "sweep.second_order", sweep.second_order, "second_order only with design = 'sobol'"
            )
        if not isinstance(sweep.second_order, bool):
            raise value_error("sweep.second_order", sweep.second_order, "true or false")
    _validate_roles(sweep)
    columns: dict[str, str] = {}  # runs-table column -> the key that sets it
    for p in sweep.parameters:
        other = columns.get(p.column)
        if other == p.where:
            raise value_error(p.where, p.key, "each parameter once")
        if other is not None:  # `policy` and `policy.name` both fill column policy.name
            raise value_error(
                p.where,
                list(p.values) if p.values is not None else dataclasses.asdict(p.bounds),
                f"one key per column ({other} also sets {p.column})",
            )
        columns[p.column] = p.where
    if kind == "grid":
        for p in sweep.sampled:
            raise value_error(
                p.where,
                {"low": p.bounds.low, "high": p.bounds.high},
                "a list of values for design = 'grid' (bounds need lhs, sobol or morris)",
            )
    elif not sweep.sampled:
        table = "uncertainties" if sweep.levers or sweep.uncertainties else "parameters"
        raise value_error(
            f"sweep.{table}",
            {p.key: p.values for p in sweep.parameters},
            f"at least one parameter with bounds {{ low = ..., high = ... }} for design = '{kind}'",
        )


def is_vendor_choice(key: str) -> bool:
    """A lever: the policy preset (`policy`) or one of its levers (`policy.urgency`)."""
    return key == "policy" or (
        key.startswith("policy.") and key.removeprefix("policy.") in policy_file.levers()
    )


def _validate_roles(sweep: Sweep) -> None:
    """Levers are vendor choices given as lists; uncertainties are anything no one chooses."""
    roles = {p.role is None for p in sweep.parameters}
    if len(roles) > 1:
        raise value_error(
            "sweep.parameters",
            [p.key for p in sweep.parameters if p.role is None],
            "no [sweep.parameters] beside [sweep.levers] or [sweep.uncertainties]",
        )
    for p in sweep.parameters:
        value = list(p.values) if p.values is not None else dataclasses.asdict(p.bounds)
        if p.key == "market" and p.role is not None:
            raise value_error(
                p.where, value, "no market profile here (set base.market: one market per file)"
            )
        if p.role == "lever" and not is_vendor_choice(p.key):
            raise value_error(
                p.where,
                value,
                f"a vendor choice (policy presets or a policy.* lever); {p.key} is not chosen "
                "by the vendor: put it in [sweep.uncertainties]",
            )
        if p.role == "lever" and p.bounds is not None:
            raise value_error(
                p.where,
                value,
                "a list of values or preset names (levers are crossed with the uncertainties' "
                "sample; bounds belong to [sweep.uncertainties])",
            )
        if p.role == "uncertainty" and (p.key == "policy" or p.key.startswith("policy.")):
            raise value_error(
                p.where,
                value,
                f"a rate no one chooses (market.*, trust.*, partner.*, ...); {p.key} is a "
                "vendor choice: put it in [sweep.levers]",
            )


def design_point_count(sweep: Sweep) -> int:
    """Design points of a validated sweep, counted without making them."""
    points = math.prod(len(p.values) for p in sweep.listed)
    if sweep.design == "grid":
        return points
    bounded = len(sweep.sampled)
    per_sample = {
        "lhs": 1,
        "sobol": 2 * bounded + 2 if sweep.second_order else bounded + 2,
        "morris": bounded + 1,
    }[sweep.design]
    return points * sweep.samples * per_sample
