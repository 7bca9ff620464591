"""The documentation says what the code does.

docs/ODD.md's parameter table (Appendix A.1): each row's default, Japan and U.S. values,
range, unit, meaning and source are compared with the declarations of `agents/parameters.py`
and the market profiles. docs/PROPERTY_TESTS.md: every Python example runs, and passes, as
written.
"""

from __future__ import annotations

import dataclasses
import math
import re
import unittest
from pathlib import Path
from typing import Any

import pytest

from agents import parameters

DOCS = Path(__file__).resolve().parents[1] / "docs"
ODD = DOCS / "ODD.md"
PROPERTY_TESTS = DOCS / "PROPERTY_TESTS.md"
COLUMNS = ("key", "default", "japan", "us", "range", "unit", "meaning", "source")


def documented_rows() -> dict[str, dict[str, str]]:
    """Appendix A.1's rows by key, each cell stripped (the key without its backticks)."""
    text = ODD.read_text(encoding="utf-8")
    section = text.split("### A.1 All parameters", 1)[1].split("\n### ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == len(COLUMNS) and cells[0].startswith("`"):
            row = dict(zip(COLUMNS, cells, strict=True))
            row["key"] = row["key"].strip("`")
            assert row["key"] not in rows, f"{row['key']} is documented twice"
            rows[row["key"]] = row
    return rows


def declared_defaults() -> dict[str, Any]:
    """Every parameter's `param(...)` default by dotted key (nested groups included)."""
    defaults = {}

    def walk(cls: type, prefix: str) -> None:
        for f in dataclasses.fields(cls):
            key = f"{prefix}.{f.name}"
            if dataclasses.is_dataclass(f.default_factory):  # a nested group: market.culture
                walk(f.default_factory, key)
            else:
                defaults[key] = f.default

    for group in dataclasses.fields(parameters.Parameters):
        walk(getattr(parameters, group.type), group.name)  # the type is its name, a string
    return defaults


def same(cell: str, value: Any) -> bool:
    """A table cell (500_000, 0.5, true, japan) against a declared value."""
    if isinstance(value, bool):
        return cell == str(value).lower()
    if isinstance(value, int | float):
        return math.isclose(float(cell.replace("_", "")), float(value), rel_tol=1e-9)
    return cell == str(value)


def range_words(text: str) -> str:
    """A range in one spelling: [1, 1e6] and "a value in [1, 1000000]" alike, a | b as a / b."""
    text = text.removeprefix("a value in ").replace(" | ", " / ")
    return re.sub(r"-?\d[\d_.e+-]*", lambda m: repr(float(m.group().replace("_", ""))), text)


JAPAN = {row["key"]: row for row in parameters.parameter_table(parameters.build("japan", "hybrid"))}
US = {row["key"]: row for row in parameters.parameter_table(parameters.build("us", "hybrid"))}


def test_every_parameter_is_documented_once_and_nothing_else() -> None:
    assert sorted(documented_rows()) == sorted(JAPAN)


@pytest.mark.parametrize("key", sorted(JAPAN))
def test_a_documented_row_matches_its_declaration(key: str) -> None:
    row, declared = documented_rows()[key], JAPAN[key]
    assert range_words(row["range"]) == range_words(declared["range"])
    assert row["unit"] == declared["unit"]
    assert row["meaning"] == declared["doc"]
    assert row["source"] == declared["source"]
    default = declared_defaults()[key]
    if default is not dataclasses.MISSING:
        assert same(row["default"], default), f"default {row['default']} against {default}"
    if key.startswith("market.") and row["japan"]:
        assert same(row["japan"], declared["value"])
        assert same(row["us"], US[key]["value"])


EXAMPLES = re.findall(r"```python\n(.*?)```", PROPERTY_TESTS.read_text(encoding="utf-8"), re.S)


def run_example(index: int) -> dict[str, Any]:
    """Execute one example of docs/PROPERTY_TESTS.md as a module; return its names."""
    namespace: dict[str, Any] = {"__name__": f"property_tests_example_{index}"}
    exec(compile(EXAMPLES[index], f"{PROPERTY_TESTS.name}, example {index + 1}", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("index", range(len(EXAMPLES)), ids=lambda i: f"example{i + 1}")
def test_a_property_tests_example_runs_and_passes(index: int) -> None:
    tests = 0
    for name, value in run_example(index).items():
        if name.startswith("test_") and callable(value):
            value()
            tests += 1
        elif isinstance(value, type) and issubclass(value, unittest.TestCase):
            value("runTest").runTest()
            tests += 1
    assert tests, "an example with no test"
