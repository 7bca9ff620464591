"""Fixtures for the experiment tests: a tiny grid config and its single-worker result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.experiments.sweep_helpers import TINY_GRID, run_cli, write_config


@pytest.fixture(scope="session")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("config"), TINY_GRID)


@pytest.fixture(scope="session")
def reference(tiny_config: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny grid run once with one local worker: the result every other way must equal."""
    out = tmp_path_factory.mktemp("reference") / "out"
    assert run_cli("run", tiny_config, "--out", out, "--workers", 1) == 0
    return out
