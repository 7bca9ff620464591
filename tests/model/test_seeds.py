"""One seed, one run: a run's identity and random inputs do not depend on how it was asked
for (the seed's Python type, the door it came in by), and importing the model changes no
process-wide setting."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from sim import PartnershipModel, make_spec, simulate
from sim.run import RunSpec

SMALL = {"market.clients": 20, "partner.reps": 2}


def test_the_same_spec_has_the_same_id_whatever_the_types() -> None:
    plain = make_spec("japan", "hybrid", {"policy.patience_months": 12}, seed=3, years=2)
    typed = make_spec(
        "japan",
        "hybrid",
        {"policy.patience_months": np.int64(12)},
        seed=np.int64(3),
        years=np.float32(2.0),
        replication=np.uint8(0),
    )
    assert typed.run_id == plain.run_id
    assert typed == plain
    assert (type(typed.seed), type(typed.replication), type(typed.years)) == (int, int, float)
    # and a different run has a different id
    assert make_spec(seed=4, years=2).run_id != make_spec(seed=3, years=2).run_id
    assert make_spec(seed=3, replication=1).run_id != make_spec(seed=3).run_id


@pytest.mark.parametrize(
    ("key", "value"), [("seed", -1), ("seed", 1.5), ("replication", True), ("years", 0)]
)
def test_a_spec_refuses_a_bad_seed_replication_or_horizon(key, value) -> None:
    from agents.parameters import ConfigError

    with pytest.raises(ConfigError, match=f"^{key}: got "):
        make_spec(**{key: value})


def test_an_int_seed_is_the_same_run_by_either_door() -> None:
    """PartnershipModel(seed=7) runs replication 0 of seed 7, which make_spec(seed=7) names."""
    spec = make_spec("us", "us_urgency", SMALL, seed=7, years=1)
    result = simulate(spec)
    model = PartnershipModel(
        market="us", policy="us_urgency", years=1, seed=7, market__clients=20, partner__reps=2
    )
    while model.running:
        model.step()
    monthly = model.recorder.monthly_frame()
    deals = model.recorder.deals_frame()
    assert deals.height > 0
    assert_frame_equal(monthly, result.monthly.drop("run_id"))
    assert_frame_equal(deals, result.deals.drop("run_id"))
    # a SeedSequence is taken as the run's root, as the runner passes it
    again = PartnershipModel(params=spec.params, years=1, seed=spec.root_seed())
    again.run_to_end()
    assert_frame_equal(again.recorder.deals_frame(), deals)


def test_a_numpy_seed_is_the_same_run_as_a_plain_one() -> None:
    a = PartnershipModel(years=1, seed=np.int64(5), market__clients=10, partner__reps=1)
    b = PartnershipModel(years=1, seed=5, market__clients=10, partner__reps=1)
    a.run_to_end()
    b.run_to_end()
    assert_frame_equal(a.recorder.monthly_frame(), b.recorder.monthly_frame())


def test_runspec_seed_of_replication_r_is_its_spawn_key() -> None:
    spec = RunSpec(params=make_spec().params, seed=9, replication=2)
    root = spec.root_seed()
    assert (root.entropy, root.spawn_key) == (9, (2,))


@pytest.mark.parametrize("method", [None, "forkserver"])
def test_importing_the_model_keeps_the_start_method(method: str | None) -> None:
    """Mesa's import forces spawn (mesa/batchrunner.py); importing the model must not."""
    code = (
        "import multiprocessing as mp\n"
        f"if {method!r}: mp.set_start_method({method!r})\n"
        "before = mp.get_start_method(allow_none=True)\n"
        "import sim.model\n"
        "from sim import PartnershipModel\n"
        "after = mp.get_start_method(allow_none=True)\n"
        "assert before == after == {method!r}, (before, after)\n".replace(
            "{method!r}", repr(method)
        )
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
