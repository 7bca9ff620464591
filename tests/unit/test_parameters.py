"""Parameter validation: any integer or real number of the right kind, numpy's included, is
accepted and stored as a plain int or float; a bool or a string is not; a missing value is
called missing."""

from __future__ import annotations

import numpy as np
import pytest

from agents import parameters
from agents.parameters import MISSING, ConfigError
from experiments import config


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("policy.patience_months", np.int64(12), int),
        ("market.clients", np.uint16(40), int),
        ("policy.urgency", np.float32(0.25), float),
        ("policy.urgency", np.float64(0.25), float),
        ("policy.turnaround_days", np.int32(3), float),
        ("policy.urgency", 1, float),
    ],
)
def test_numpy_scalars_are_numbers_stored_as_plain_ones(key, value, kind) -> None:
    params = parameters.build("japan", "hybrid", {key: value})
    stored = parameters.flatten(params)[key]
    assert type(stored) is kind and stored == value


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("policy.patience_months", 12.0, "an integer"),
        ("policy.patience_months", np.float64(12), "an integer"),
        ("policy.patience_months", True, "an integer"),
        ("policy.patience_months", np.bool_(True), "an integer"),
        ("policy.urgency", False, "a number"),
        ("policy.urgency", "0.5", "a number"),
        ("policy.urgency", np.float64("nan"), "a finite number"),
    ],
)
def test_other_values_are_refused(key, value, expected) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: got .*, expected {expected}$"):
        parameters.build("japan", "hybrid", {key: value})


def test_an_experiment_takes_numpy_numbers_for_its_settings() -> None:
    made = config.ExperimentConfig(
        name="x", years=np.float32(2), replications=np.int64(3), seed=np.uint8(7)
    )
    assert (made.years, made.replications, made.seed) == (2.0, 3, 7)
    assert (type(made.years), type(made.replications), type(made.seed)) == (float, int, int)
    assert config.loads(config.to_toml(made)) == made


def test_a_missing_value_is_called_missing() -> None:
    assert str(ConfigError("name", MISSING, "a name")) == "name: missing, expected a name"
    assert str(ConfigError("x", None, "a y")) == "x: got None, expected a y"
