"""Design generators: grid size, LHS bounds and strata, Sobol and Morris counts, paired seeds."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings

from experiments import config, design, strategies


def load(text: str) -> config.ExperimentConfig:
    return config.loads(text)


BASE = """
name = "d"
years = 1
replications = 3
seed = 7
[base.set]
"market.clients" = 40
"partner.reps" = 3
"""


def test_grid_is_the_full_factorial_in_file_order() -> None:
    c = load(
        BASE
        + """
[sweep.parameters]
market = ["japan", "us"]
"policy.urgency" = [0.1, 0.5, 0.9]
"policy.patience_months" = [12, 24]
"mechanisms.ringi" = [true, false]
"policy.proposal_timing" = ["first_meeting", "after_consensus"]
"""
    )
    plan = design.plan(c)
    assert len(plan.points) == 2 * 3 * 2 * 2 * 2
    assert plan.runs == len(plan.points) * 3
    expected = itertools.product(
        ["japan", "us"],
        [0.1, 0.5, 0.9],
        [12, 24],
        [True, False],
        ["first_meeting", "after_consensus"],
    )
    assert [tuple(v for _, v in p.values) for p in plan.points] == list(expected)
    spec = next(s for s in plan.specs if s.design_point == 5)
    point = plan.points[5]
    assert spec.params.market.name == dict(point.values)["market"]
    assert spec.params.policy.urgency == dict(point.values)["policy.urgency"]
    assert spec.params.mechanisms.ringi is dict(point.values)["mechanisms.ringi"]
    table = plan.table()
    assert table.height == len(plan.points) * 3
    assert table.columns[2:7] == list(c.swept)


def test_no_sweep_is_one_point() -> None:
    plan = design.plan(load(BASE))
    assert len(plan.points) == 1 and plan.runs == 3


def test_lhs_stays_within_bounds_one_sample_per_stratum() -> None:
    c = load(
        BASE
        + """
[sweep]
design = "lhs"
samples = 50
[sweep.parameters]
"policy.urgency" = { low = 0.2, high = 0.7 }
"policy.patience_months" = { low = 6, high = 36 }
"""
    )
    points = design.design_points(c)
    assert len(points) == 50
    urgency = np.array([dict(p.values)["policy.urgency"] for p in points])
    patience = [dict(p.values)["policy.patience_months"] for p in points]
    assert ((urgency >= 0.2) & (urgency <= 0.7)).all()
    strata = np.floor((urgency - 0.2) / 0.5 * 50).astype(int)
    assert sorted(strata) == list(range(50))  # Latin: each of the 50 strata once
    assert all(isinstance(v, int) and 6 <= v <= 36 for v in patience)
    assert design.design_points(c) == points  # the design is a function of the seed


def test_integer_parameters_reach_every_value() -> None:
    bounds = config.SweptParameter(key="partner.reps", bounds=config.Bounds(low=2, high=5))
    values = [design.scale(u, bounds) for u in np.linspace(0, 1, 101)]
    assert set(values) == {2, 3, 4, 5}
    assert all(isinstance(v, int) for v in values)


@pytest.mark.parametrize("second_order", [False, True])
def test_sobol_sample_counts(second_order: bool) -> None:
    c = load(
        BASE
        + f"""
[sweep]
design = "sobol"
samples = 16
second_order = {str(second_order).lower()}
[sweep.parameters]
"policy.urgency" = {{ low = 0.0, high = 1.0 }}
"policy.relationship_investment" = {{ low = 0.0, high = 1.0 }}
"policy.overselling" = {{ low = 0.0, high = 0.5 }}
"""
    )
    dims = 3
    expected = 16 * (2 * dims + 2 if second_order else dims + 2)
    points = design.design_points(c)
    assert len(points) == expected
    assert [p.sample_index for p in points] == list(range(expected))
    assert design.plan(c).describe()["second_order"] is second_order


def test_sobol_crossed_with_a_listed_parameter() -> None:
    c = load(
        BASE
        + """
[sweep]
design = "sobol"
samples = 8
[sweep.parameters]
market = ["japan", "us"]
"policy.urgency" = { low = 0.0, high = 1.0 }
"""
    )
    points = design.design_points(c)
    assert len(points) == 2 * 8 * (1 + 2)
    japan = [
        dict(p.values)["policy.urgency"] for p in points if dict(p.values)["market"] == "japan"
    ]
    us = [dict(p.values)["policy.urgency"] for p in points if dict(p.values)["market"] == "us"]
    assert japan == us  # the same sample matrix for each listed value


def test_morris_trajectories() -> None:
    c = load(
        BASE
        + """
[sweep]
design = "morris"
samples = 5
levels = 4
[sweep.parameters]
"policy.urgency" = { low = 0.0, high = 1.0 }
"policy.overselling" = { low = 0.0, high = 0.6 }
"""
    )
    plan = design.plan(c)
    assert len(plan.points) == 5 * (2 + 1)
    grid = {round(0.6 * k / 3, 9) for k in range(4)}
    assert {round(dict(p.values)["policy.overselling"], 9) for p in plan.points} <= grid
    # Trajectories may share points: those share runs, and the table still maps every point.
    assert plan.runs <= len(plan.points) * 3
    assert plan.table().height == len(plan.points) * 3


def test_paired_seeds_replication_r_is_the_same_in_every_point() -> None:
    c = load(
        BASE
        + """
[sweep.parameters]
policy = ["us_urgency", "jp_relationship", "hybrid"]
"policy.patience_months" = [12, 36]
"""
    )
    plan = design.plan(c)
    by_replication: dict[int, set] = {}
    for spec in plan.specs:
        root = spec.root_seed()
        assert spec.seed == 7
        assert root.spawn_key == (spec.replication,)
        by_replication.setdefault(spec.replication, set()).add(tuple(root.generate_state(4)))
    assert all(len(states) == 1 for states in by_replication.values())
    assert len({next(iter(s)) for s in by_replication.values()}) == 3
    assert len({s.run_id for s in plan.specs}) == plan.runs == 6 * 3


def test_specs_are_replication_major() -> None:
    c = load(BASE + '[sweep.parameters]\n"policy.urgency" = [0.1, 0.9]\n')
    order = [(s.replication, s.design_point) for s in design.plan(c).specs]
    assert order == sorted(order)


def test_sobol_bounds_scale_linearly() -> None:
    p = config.SweptParameter(key="policy.overselling", bounds=config.Bounds(low=0.1, high=0.5))
    assert math.isclose(design.scale(0.5, p), 0.3)
    assert design.scale(0.0, p) == 0.1 and math.isclose(design.scale(1.0, p), 0.5)


@settings(max_examples=40, deadline=None)
@given(experiment=strategies.experiment_configs())
def test_the_point_count_checked_at_load_is_the_design_s(experiment: config.ExperimentConfig):
    points = design.design_points(experiment)
    assert config.design_point_count(experiment.sweep) == len(points)


@pytest.mark.parametrize(
    ("sweep", "refused"),
    [
        (
            '[sweep]\ndesign = "lhs"\nsamples = 600000\n'
            '[sweep.parameters]\n"policy.urgency" = { low = 0.1, high = 0.9 }\n',
            "replications: got 2",  # 600,000 points: too many only when replicated
        ),
        (
            '[sweep]\ndesign = "lhs"\nsamples = 2000000\n'
            '[sweep.parameters]\n"policy.urgency" = { low = 0.1, high = 0.9 }\n',
            "sweep.samples: got 2000000",
        ),
        (
            "[sweep.parameters]\n"
            + "\n".join(
                f'"{k}" = [{", ".join(map(str, range(1, 102)))}]'
                for k in ("policy.patience_months", "policy.support_staff", "partner.reps")
            ),
            "sweep.parameters: got '1,030,301 design points'",
        ),
    ],
    ids=["lhs-replicated", "lhs", "grid"],
)
def test_a_design_too_large_to_plan_is_refused_at_load(sweep: str, refused: str) -> None:
    text = 'name = "big"\nyears = 1\nreplications = 2\n[base]\nmarket = "japan"\n' + sweep
    with pytest.raises(config.ConfigError) as error:
        config.loads(text)
    assert str(error.value).startswith(f"{refused}, expected at most 1,000,000 runs")
