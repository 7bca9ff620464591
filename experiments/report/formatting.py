"""Numbers in words: compact dollars, shares, ratios, for captions, tables and the run summary.

Every formatter takes None or a non-finite value and says "n/a".
"""

from __future__ import annotations

import math

MAX_RATIO = 20.0  # beyond this the baseline is near zero: captions state the difference
_UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def money(value: float | None) -> str:
    """$1.23M, $45.6k, $789, -$35.2k: compact dollars, three significant digits from $100."""
    if not finite(value):
        return "n/a"
    sign, v = ("-" if value < 0 else ""), abs(value)
    shown = float(f"{v:.3g}")  # the unit follows the value as shown: $999.6k is $1.00M
    size, suffix = next(((s, x) for s, x in _UNITS if shown >= s), (1.0, ""))
    if not suffix:
        return f"{sign}${v:.0f}"
    scaled = shown / size
    digits = 2 if scaled < 10 else 1 if scaled < 100 else 0
    return f"{sign}${v / size:.{digits}f}{suffix}"


def share(value: float | None) -> str:
    """0.456 -> 46%."""
    if not finite(value):
        return "n/a"
    return f"{value:.0%}"


def number(value: float | None, digits: int = 2) -> str:
    """1234.5 -> 1,234.50."""
    if not finite(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def month(value: float | None) -> str:
    """A month that may never come (inf): 38, 14.5, never."""
    if value is None or math.isnan(value):
        return "n/a"
    return "never" if math.isinf(value) else f"{value:g}"


def telling(ratio: float | None) -> bool:
    """A ratio worth stating: defined, positive and not dominated by a near-zero baseline."""
    return finite(ratio) and 0 < ratio <= MAX_RATIO


def ratio_text(value: float | None) -> str:
    """A ratio bound with three significant digits."""
    if not finite(value):
        return "n/a"
    return f"{value:.3g}"


def times(value: float | None) -> str:
    """2.13 -> 2.1x; 12.4 -> 12x."""
    if not finite(value):
        return "n/a"
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"
