"""Outcome conditions: which runs are cases of interest, in a language too small to be unsafe.

A condition is a boolean column of the runs table (`partnership_terminated`), or a column,
an operator among < <= > >= == != and a number (`npv_usd < 0`, `break_even_month > 36`).
It is parsed by one regular expression, never evaluated as code. A boolean column compared
with a number counts as 0 and 1. Runs where the column is null (a run that never breaks
even has no `break_even_month`) are neither cases nor non-cases: they are left out, and
`evaluate` says how many.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from agents.parameters import ConfigError

OPERATORS: dict[str, Callable[[object, object], object]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
}
NUMBER = r"[-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
PATTERN = re.compile(
    r"\s*(?P<column>[A-Za-z_][A-Za-z0-9_.]*)\s*"
    r"(?:(?P<op><=|>=|==|!=|<|>)\s*(?P<number>" + NUMBER + r"))?\s*"
)
EXPECTED = (
    "a boolean column (partnership_terminated) or COLUMN OP NUMBER with OP one of "
    "< <= > >= == != (npv_usd < 0)"
)


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed condition: `column`, and `op` and `number` unless the column is boolean."""

    column: str
    op: str | None = None
    number: float | None = None

    @property
    def label(self) -> str:
        """The condition as text, canonical: `npv_usd < 0`."""
        if self.op is None:
            return self.column
        return f"{self.column} {self.op} {self.number:.12g}"

    def check(self, schema: pl.Schema, where: str = "--outcome") -> None:
        """ConfigError unless the column is an outcome of this runs table of the right kind."""
        dtype = schema.get(self.column)
        outcomes = [c for c, t in schema.items() if _is_outcome(c, t)]
        if dtype is None or not _is_outcome(self.column, dtype):
            raise ConfigError(
                where,
                self.label,
                "a condition on an outcome column of the runs table, e.g. "
                + ", ".join(outcomes[:6])
                + (", ..." if len(outcomes) > 6 else ""),
            )
        if self.op is None and dtype != pl.Boolean:
            raise ConfigError(
                where,
                self.label,
                f"a boolean column alone, or COLUMN OP NUMBER ({self.column} is a number: "
                f"e.g. {self.column} < 0)",
            )

    def evaluate(self, runs: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(is a case, has a value) per run, as boolean arrays; cases only among valued runs."""
        column = runs[self.column]
        valued = column.is_not_null().to_numpy()
        values = column.cast(pl.Float64).fill_null(np.nan).to_numpy()
        if self.op is None:
            cases = values == 1.0
        else:
            with np.errstate(invalid="ignore"):
                cases = np.asarray(OPERATORS[self.op](values, self.number), dtype=bool)
        return cases & valued, valued


def _is_outcome(column: str, dtype: pl.DataType) -> bool:
    """Outcomes are the runs table's undotted number and boolean columns but its ids."""
    ids = ("design_point", "replication", "years")
    return "." not in column and column not in ids and (dtype == pl.Boolean or dtype.is_numeric())


def parse(text: str, where: str = "--outcome") -> Condition:
    """A Condition from its text; ConfigError naming `where` and the text if it does not parse."""
    match = PATTERN.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ConfigError(where, text, EXPECTED)
    number = match["number"]
    if number is None:
        return Condition(column=match["column"])
    value = float(number.replace("_", ""))
    if not np.isfinite(value):
        raise ConfigError(where, text, "a finite number")
    return Condition(column=match["column"], op=match["op"], number=value)
