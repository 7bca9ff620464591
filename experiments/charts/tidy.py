"""`tidy(frame)`: an experiment's table made into what a chart of your own can draw.

What the report's charts get, for charts of your own: Vega-Lite (under Altair) reads a dot
in a field name as a path into nested data, so `x="policy.urgency:Q"` draws no mark at all,
without an error; and Altair refuses data over 5000 rows, which a sweep's monthly table
passes at a few dozen runs. `tidy` renames dotted columns (`policy.urgency` ->
`policy_urgency`) and, given `by`, averages every other numeric column per group, as the
report aggregates in polars before it charts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

ALTAIR_MAX_ROWS = 5000  # Altair's default limit on a chart's inline data


def field_name(column: str) -> str:
    """The name a column takes in a tidy frame: dots become underscores."""
    return column.replace(".", "_")


def tidy(
    frame: Any,
    by: Sequence[str] | str | None = None,
    *,
    max_rows: int | None = ALTAIR_MAX_ROWS,
) -> pl.DataFrame:
    """A frame Altair draws as meant: no dotted names, and few enough rows.

    Args:
        frame: a polars (or pandas) frame, e.g. the runs or monthly table of an experiment.
        by: columns to group by (dotted names as in the tables, e.g.
            `["policy.urgency", "month"]`): every other numeric or boolean column becomes its
            mean per group (a boolean's mean is a share), with `n`, the rows averaged.
            Rows come sorted by `by`. Without `by`, rows are kept as they are.
        max_rows: raise ValueError, naming the way out, when the result has more rows
            (None: no limit).

    Returns:
        A polars DataFrame whose column names hold no dots (`policy.urgency` ->
        `policy_urgency`); use those names in encodings (`x="policy_urgency:Q"`).
    """
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame) if hasattr(frame, "to_numpy") else pl.DataFrame(frame)
    if by is not None:
        keys = [by] if isinstance(by, str) else list(by)
        missing = [k for k in keys if k not in frame.columns]
        if missing:
            raise ValueError(f"by: got {missing[0]!r}, expected a column of the frame")
        averaged = [
            pl.col(name).cast(pl.Float64).mean()
            for name, dtype in frame.schema.items()
            if name not in keys and (dtype.is_numeric() or dtype == pl.Boolean)
        ]
        frame = frame.group_by(keys).agg(*averaged, pl.len().alias("n")).sort(keys)
    renamed = {c: field_name(c) for c in frame.columns}
    clash = [c for c in frame.columns if c != renamed[c] and renamed[c] in frame.columns]
    if clash or len(set(renamed.values())) < len(renamed):
        taken = clash[0] if clash else next(c for c in frame.columns if renamed[c] != c)
        raise ValueError(f"{taken}: its tidy name {renamed[taken]!r} is taken by another column")
    frame = frame.rename(renamed)
    if max_rows is not None and frame.height > max_rows:
        raise ValueError(
            f"{frame.height:,} rows: over Altair's {max_rows:,}; aggregate with "
            "by=[...] (e.g. by=['policy.urgency', 'month'] for the monthly table) or pass "
            "max_rows=None and call alt.data_transformers.disable_max_rows()"
        )
    return frame
