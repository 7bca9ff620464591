"""A what-if setting: the market, the starting preset, the levers the app's controls move,
and the ensemble to run (years, replications, seed); its run specs and its files.

A setting is plain frozen data. Its specs are the ones `partnersim run` makes for the same
experiment (the same parameters, years, seed and replications give the same run ids), so
the files it writes run from the command line with the same results. The model checks
every value: a refused one raises the same `ConfigError` the command line prints.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from agents import parameters
from agents.parameters import ConfigError, Parameters, frozen
from experiments import policy_file
from experiments.config import toml_text
from sim.run import RunSpec

# The levers the app moves, all `policy.*`: the style, then the operations.
STYLE = ("urgency", "relationship_investment", "overselling", "proposal_timing")
OPERATIONS = ("patience_months", "support_staff", "turnaround_days", "review_months")
LEVERS = STYLE + OPERATIONS
MAX_REPLICATIONS = 1000  # an ensemble the app holds in memory and draws
DEFAULT_REPLICATIONS = 20
DEFAULT_SEED = 20261207
DECIMALS = 9  # control values are rounded to this many decimals


def preset_values(preset: str) -> dict[str, Any]:
    """The app's levers as the preset sets them."""
    policy = parameters.PRESETS[preset]
    return {lever: getattr(policy, lever) for lever in LEVERS}


@frozen
class Setting:
    """What one ensemble runs: a market, a preset, the levers on top of it, the horizon."""

    market: str = "japan"
    preset: str = "hybrid"
    levers: tuple[tuple[str, Any], ...] = ()  # (lever, value) moved from the preset
    years: float = 5.0
    replications: int = DEFAULT_REPLICATIONS
    seed: int = DEFAULT_SEED

    @classmethod
    def of(cls, market: str, preset: str, values: dict[str, Any], **ensemble: Any) -> Setting:
        """A setting from control values: only the levers that differ from the preset count."""
        start = preset_values(preset) if preset in parameters.PRESETS else {}
        # A slider's 0.35000000000000003 is the 0.35 a file would say: the same run ids.
        values = {k: round(v, DECIMALS) if isinstance(v, float) else v for k, v in values.items()}
        moved = tuple(sorted((k, v) for k, v in values.items() if start.get(k, object()) != v))
        return cls(market=market, preset=preset, levers=moved, **ensemble)

    @property
    def overrides(self) -> dict[str, Any]:
        return {f"policy.{lever}": value for lever, value in self.levers}

    def with_policy_of(self, other: Setting) -> Setting:
        """`other`'s preset and levers in this setting's market and ensemble (a baseline)."""
        return dataclasses.replace(self, preset=other.preset, levers=other.levers)

    def params(self) -> Parameters:
        """The model's parameters; ConfigError naming the key the model refuses."""
        if not (parameters.is_integer(self.replications)) or not (
            1 <= self.replications <= MAX_REPLICATIONS
        ):
            raise ConfigError(
                "replications", self.replications, f"an integer in [1, {MAX_REPLICATIONS}]"
            )
        return parameters.build(self.market, self.preset, self.overrides)

    def specs(self) -> tuple[RunSpec, ...]:
        """One spec per replication, as `partnersim run` plans this setting's experiment."""
        params = self.params()
        return tuple(
            RunSpec(
                params=params,
                years=self.years,
                seed=self.seed,
                replication=r,
                experiment=self.name,
            )
            for r in range(self.replications)
        )

    @property
    def name(self) -> str:
        return "whatif_" + self.market

    def policy_toml(self, name: str) -> str:
        """A policy file holding every lever (`partnersim simulate --policy FILE`)."""
        policy = dataclasses.replace(self.params().policy, name=name)
        header = [
            "Written by `partnersim app`: the preset and the levers moved from it.",
            f"Run it: partnersim simulate --market {self.market} --policy FILE",
        ]
        return policy_file.policy_toml(policy, preset=self.preset, header=header)

    def experiment_toml(self, name: str) -> str:
        """An experiment file that `partnersim run` runs to the app's very runs."""
        self.params()
        document: dict[str, Any] = {
            "name": name,
            "description": f"What-if setting saved from the app ({self.market}, {self.preset})",
            "years": self.years,
            "replications": self.replications,
            "seed": self.seed,
            "base": {"market": self.market, "policy": self.preset},
        }
        if self.levers:
            document["base"]["set"] = self.overrides
        header = "# Written by `partnersim app`. Run it: partnersim run FILE\n"
        return header + toml_text(document, quoted=("base.set",))
