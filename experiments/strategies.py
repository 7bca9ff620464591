"""Hypothesis strategies for typed experiment configs (`experiments.config.ExperimentConfig`).

The plain-dict strategy lives in `sim.strategies.experiment_configs` (sim cannot import
experiments); this one maps its dicts through `experiments.config.from_dict`, so a test gets
validated, normalized configs.
"""

from __future__ import annotations

from typing import Any

from hypothesis.strategies import SearchStrategy

from experiments import config
from sim import strategies


def experiment_configs(**kwargs: Any) -> SearchStrategy[config.ExperimentConfig]:
    """Valid `ExperimentConfig`s; keyword arguments as `sim.strategies.experiment_configs`."""
    return strategies.experiment_configs(**kwargs).map(config.from_dict)
