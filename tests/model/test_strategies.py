"""The public strategies of `sim.strategies` draw what they promise: valid, small, covering."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

from agents import parameters
from agents.parameters import ConfigError, Mechanisms, Parameters
from sim import strategies
from sim.model import PartnershipModel
from sim.run import RunSpec

GROUPS = {
    "market": parameters.Market,
    "market.culture": parameters.Culture,
    "policy": parameters.Policy,
    "partner": parameters.Partner,
    "product": parameters.Product,
    "trust": parameters.Trust,
    "vendor": parameters.VendorParameters,
    "economy": parameters.EconomyParameters,
    "mechanisms": parameters.Mechanisms,
}
# Coverage checks only need one example each, not the smallest one.
FIRST_FOUND = settings(database=None, phases=[Phase.generate], max_examples=1000)
SCALAR_FIELDS = [
    (cls, f.name)
    for cls in GROUPS.values()
    for f in dataclasses.fields(cls)
    if not dataclasses.is_dataclass(f.default) and f.name != "culture"
]


def test_small_ranges_and_pairs_name_declared_parameters() -> None:
    declared = {
        row["key"] for row in parameters.parameter_table(parameters.build("japan", "hybrid"))
    }
    assert set(strategies.SMALL) <= declared
    assert {key for pair in strategies.ORDERED_PAIRS for key in pair} <= declared


@given(spec=strategies.run_specs())
def test_run_specs_are_small_and_valid(spec: RunSpec) -> None:
    p = spec.params
    assert isinstance(p, Parameters)
    assert 5 <= p.market.clients <= 40
    assert 1 <= p.partner.reps <= 4
    assert 0.5 <= spec.years <= 3.0
    # re-validating every value through the dotted-override path accepts them all
    assert parameters.with_overrides(p, parameters.flatten(p)) == p
    assert p.market.name in parameters.market_names()
    assert p.policy.name in parameters.PRESET_NAMES


@given(data=st.data())
@pytest.mark.parametrize(("cls", "name"), SCALAR_FIELDS, ids=lambda x: getattr(x, "PREFIX", x))
def test_field_values_stay_in_the_declared_range(cls, name, data) -> None:
    value = data.draw(strategies.field_values(cls, name, small=False))
    meta = next(f for f in dataclasses.fields(cls) if f.name == name).metadata
    if meta.get("choices"):
        assert value in meta["choices"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        assert meta.get("low") is None or value >= meta["low"]
        assert meta.get("high") is None or value <= meta["high"]


@given(
    spec=strategies.run_specs(
        {
            "market.decision_rule": "consensus_ringi",
            "policy.overselling": st.floats(0.5, 1.0),
            "market.stakeholders_min": 3,
            "mechanisms.ringi": True,
        },
        max_years=1.0,
    )
)
def test_overrides_fix_values_or_draw_them(spec: RunSpec) -> None:
    p = spec.params
    assert p.market.decision_rule == "consensus_ringi"
    assert 0.5 <= p.policy.overselling <= 1.0
    assert p.market.stakeholders_min == 3 <= p.market.stakeholders_max
    assert p.mechanisms.ringi
    assert spec.years <= 1.0


def test_unknown_override_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"policy\.patiense_months"):
        strategies.run_specs({"policy.patiense_months": 12})
    with pytest.raises(ConfigError, match=r"polcy\.urgency"):
        strategies.run_specs({"polcy.urgency": 0.5})


FLOAT_KEYS = [
    row["key"]
    for row in parameters.parameter_table(parameters.build("japan", "hybrid"))
    if isinstance(row["value"], float)
]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan], ids=str)
def test_a_number_that_is_not_finite_is_refused(value: float) -> None:
    params = parameters.build("japan", "hybrid")
    for key in FLOAT_KEYS:
        with pytest.raises(ConfigError, match="expected a finite number") as refused:
            parameters.with_overrides(params, {key: value})
        assert str(refused.value).startswith(f"{key}: got {value!r}")


def test_a_name_is_chosen_not_set() -> None:
    params = parameters.build("japan", "hybrid")
    for key, other in (("market.name", "us"), ("policy.name", "us_urgency")):
        with pytest.raises(ConfigError, match=rf"^{key}: got '{other}', expected a \w+ chosen"):
            parameters.with_overrides(params, {key: other})
    same = {"market.name": "japan", "policy.name": "hybrid"}  # a row read back: no change
    assert parameters.with_overrides(params, same) == params


@pytest.mark.parametrize("switch", [f.name for f in dataclasses.fields(Mechanisms)])
def test_every_mechanism_switch_is_drawn_both_ways(switch: str) -> None:
    specs = strategies.run_specs(max_years=1.0)
    for wanted in (False, True):
        found = find(
            specs,
            lambda s, w=wanted: getattr(s.params.mechanisms, switch) is w,
            settings=FIRST_FOUND,
        )
        assert getattr(found.params.mechanisms, switch) is wanted


@pytest.mark.parametrize("profile", parameters.market_names())
def test_every_profile_and_preset_is_drawn(profile: str) -> None:
    for preset in parameters.PRESET_NAMES:
        find(
            strategies.parameters(),
            lambda p, preset=preset: (p.market.name, p.policy.name) == (profile, preset),
            settings=FIRST_FOUND,
        )


@given(spec=strategies.run_specs(max_years=1.0), levers=strategies.policy_levers())
def test_policy_levers_are_accepted_mid_run(spec: RunSpec, levers: dict) -> None:
    model = PartnershipModel(params=spec.params, years=spec.years, seed=spec.root_seed())
    model.step()
    model.set_policy(**levers)
    assert {k: getattr(model.params.policy, k) for k in levers} == levers
    model.step()
