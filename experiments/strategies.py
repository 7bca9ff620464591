"""Hypothesis strategies for experiment configs: TOML documents as data, and typed configs.

Public, for property-based tests of config readers, designs and the store (see
docs/PROPERTY_TESTS.md). `config_documents` draws what a user writes in
`experiments/configs/*.toml`, as the dict `tomllib` reads from it (write one out with
`experiments.config.toml_text`); `experiment_configs` draws the same configs validated into
`experiments.config.ExperimentConfig`. Values are drawn by `sim.strategies.field_values`
from the parameters' declarations, so every drawn config is valid. Needs the `test` extra
(Hypothesis); nothing at run time imports this module.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from agents import parameters
from experiments import config
from sim.strategies import GROUP_CLASSES, ORDERED_PAIRS, field_values, seeds

__all__ = ["SWEEPABLE", "config_documents", "experiment_configs"]


def _sweepable() -> dict[str, tuple[type, str]]:
    """Dotted keys that can be set alone: no cross-field rule, not a name, not the decision rule."""
    paired = {key for pair in ORDERED_PAIRS for key in pair}
    keys = {}
    for prefix, cls in GROUP_CLASSES.items():
        for f in dataclasses.fields(cls):
            key = f"{prefix}.{f.name}"
            if f.name in ("name", "culture", "decision_rule") or key in paired:
                continue
            keys[key] = (cls, f.name)
    return keys


# Parameters a drawn config sets in [base.set] or sweeps: dotted key -> (group class, field).
SWEEPABLE = _sweepable()
_FLOAT_KEYS = tuple(
    key
    for key, (cls, name) in SWEEPABLE.items()
    if any(f.name == name and type(f.default) is float for f in dataclasses.fields(cls))
)


def _value(key: str) -> SearchStrategy[Any]:
    cls, name = SWEEPABLE[key]
    return field_values(cls, name)


@st.composite
def _bounds_for(draw: Any, key: str) -> dict[str, float]:
    low, high = sorted(draw(st.lists(_value(key), min_size=2, max_size=2, unique=True)))
    return {"low": low, "high": high}


def config_documents(
    designs: tuple[str, ...] = config.DESIGNS,
    max_replications: int = 5,
    descriptions: SearchStrategy[str] | None = None,
) -> SearchStrategy[dict[str, Any]]:
    """Experiment configs as plain TOML-able dicts, in the format of `experiments/configs/`.

    `name`, maybe a `description`, `years`, `replications`, `seed`; `[base]` with `market`,
    `policy` and a `set` table of dotted overrides; `[sweep]` with `design`, `samples` for
    the sampled designs (a power of 2), maybe `levels` (morris) or `second_order` (sobol),
    and `parameters`: a list of distinct values per key for `grid` (the keys `market` and
    `policy` list profile and preset names), `{low, high}` bounds of float parameters
    otherwise. Write one to text with `experiments.config.toml_text`.

    Args:
        designs: the sweep designs to draw from.
        max_replications: most replications drawn.
        descriptions: strategy for the optional description (default: any text).
    """
    names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
    descriptions = st.text() if descriptions is None else descriptions
    market_names = tuple(parameters.market_names())

    @st.composite
    def draw_document(draw: Any) -> dict[str, Any]:
        design = draw(st.sampled_from(designs))
        keys = sorted(SWEEPABLE)
        set_keys = draw(st.lists(st.sampled_from(keys), max_size=3, unique=True))
        overrides = {key: draw(_value(key)) for key in sorted(set_keys)}
        free = [k for k in keys if k not in overrides]
        sweep: dict[str, Any] = {"design": design}
        if design == "grid":
            swept = draw(st.lists(st.sampled_from(free), min_size=1, max_size=3, unique=True))
            swept_values: dict[str, Any] = {
                key: draw(st.lists(_value(key), min_size=1, max_size=4, unique=True))
                for key in sorted(swept)
            }
            for named, choices in (("market", market_names), ("policy", parameters.PRESET_NAMES)):
                if draw(st.booleans()):
                    swept_values[named] = draw(
                        st.lists(st.sampled_from(choices), min_size=1, unique=True)
                    )
        else:
            floats = [k for k in _FLOAT_KEYS if k not in overrides]
            swept = draw(st.lists(st.sampled_from(floats), min_size=1, max_size=4, unique=True))
            sweep["samples"] = draw(st.sampled_from((4, 8, 16, 32)))
            if design == "morris" and draw(st.booleans()):
                sweep["levels"] = 2 * draw(st.integers(1, 5))
            if design == "sobol" and draw(st.booleans()):
                sweep["second_order"] = draw(st.booleans())
            swept_values = {key: draw(_bounds_for(key)) for key in sorted(swept)}
        sweep["parameters"] = swept_values
        document: dict[str, Any] = {"name": draw(names)}
        if draw(st.booleans()):
            document["description"] = draw(descriptions)
        document.update(
            {
                "years": draw(st.sampled_from((0.5, 1, 2, 3, 5))),
                "replications": draw(st.integers(min_value=1, max_value=max_replications)),
                "seed": draw(seeds()),
                "base": {
                    "market": draw(st.sampled_from(market_names)),
                    "policy": draw(st.sampled_from(parameters.PRESET_NAMES)),
                    "set": overrides,
                },
                "sweep": sweep,
            }
        )
        return document

    return draw_document()


def experiment_configs(**kwargs: Any) -> SearchStrategy[config.ExperimentConfig]:
    """Valid `ExperimentConfig`s; keyword arguments as `config_documents`."""
    return config_documents(**kwargs).map(config.from_dict)
