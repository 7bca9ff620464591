"""PartnershipModel: a Mesa model that owns the SimPy clock, the agents and the recorder.

Time is `env.now` in days. `step()` exists for the Mesa ecosystem (batch_run, DataCollector,
visualization): it advances the SimPy clock by one month. Nothing in the model counts steps.
Agents reach shared state through the model: parameters, derived rates, the partnership's
status, and the ledgers `book` (revenue) and `spend` (vendor costs).
"""

from __future__ import annotations

import contextlib
import gc
import math
from collections.abc import Iterator
from typing import Any

from sim.compat import mesa  # first: Mesa without its start-method change (sim/compat.py)

# isort: split
import numpy as np
import simpy

from agents import parameters, rules
from agents.client import STAGES, ClientOrganization
from agents.economy import Economy
from agents.parameters import ConfigError, Parameters
from agents.rep import SalesRep
from agents.reseller import Reseller
from agents.vendor import Vendor
from sim import engine
from sim import rng as rngs
from sim.record import Recorder

GC_YOUNG_THRESHOLD = 20_000  # allocations between young-generation collections while running

MODEL_REPORTERS = (
    "revenue_usd",
    "bookings_usd",
    "cumulative_revenue_usd",
    "partnership_active",
    "mean_stakeholder_trust",
    "reseller_trust",
    "reseller_commitment",
    "effort_share",
    "vendor_forecast_usd",
)


class PartnershipModel(mesa.Model):
    """A U.S. vendor selling in a market through a reseller, on a SimPy clock in days.

    Args:
        market: market profile name (`japan`, `us`) or a Market.
        policy: preset name (`us_urgency`, `jp_relationship`, `hybrid`) or a Policy.
        years: horizon; `running` turns false when the clock reaches it.
        seed: an int (replication 0 of that seed: the run `make_spec(..., seed=seed)` names),
            or a numpy SeedSequence (the run's root sequence); fresh entropy when None.
        rng: accepted for Mesa compatibility; an int or SeedSequence used like `seed`.
        params: a complete Parameters object (overrides market and policy when given).
        **overrides: any parameter with `__` for `.`, e.g. `policy__patience_months=12`.
    """

    def __init__(
        self,
        market: str | parameters.Market = "japan",
        policy: str | parameters.Policy = "hybrid",
        years: float = 5,
        seed: int | np.random.SeedSequence | None = None,
        rng: int | np.random.SeedSequence | None = None,
        params: Parameters | None = None,
        **overrides: Any,
    ) -> None:
        root = seed if seed is not None else rng
        if not isinstance(root, np.random.SeedSequence):
            # an int seed is replication 0 of that seed, as in make_spec(seed=...): one seed,
            # one run, whether it is given here or to `simulate`
            root = rngs.root_sequence(rngs.entropy(root), (0,))
        super().__init__(seed=int(root.generate_state(1)[0]))
        dotted = {key.replace("__", "."): value for key, value in overrides.items()}
        if params is None:
            params = parameters.build(market, policy, dotted)
        else:
            params = parameters.with_overrides(params, dotted)
        if not (parameters.is_real(years) and 0 < years <= parameters.MAX_YEARS):
            raise ConfigError("years", years, f"a number of years in (0, {parameters.MAX_YEARS}]")
        years = float(years)
        self.params = params
        self.years = years
        self.horizon_days = years * rules.YEAR_DAYS
        self.root_seed = root
        self.env = simpy.Environment()
        self.recorder = Recorder()
        self.partnership_active = True
        self.terminated_day: float | None = None
        self.ended_by: str | None = None  # "vendor" or "partner"
        self.bookings_usd = 0.0
        self.revenue_usd = 0.0
        self._month_bookings = 0.0
        self._month_revenue = dict.fromkeys(("new", "renewal", "expansion"), 0.0)
        self._month_costs = 0.0
        self._month_margin = 0.0
        self.meetings_this_month = 0  # selling meetings held, for the observer
        self.margin_paid_usd = 0.0  # the partner's margin on what it sold
        self.net_cash_usd = 0.0  # cumulative: revenue less the partner's margin and costs
        self.churned_accounts = 0
        self.oversell_discoveries = 0  # in this market so far: reputation travels
        self._derive()

        self.economy = Economy(self, rngs.stream(root, rngs.ECONOMY_KEY, "economy"))
        desk = engine.Servers(self.env, capacity=params.policy.support_staff)
        self.vendor = Vendor(self, rngs.Streams(root, rngs.VENDOR_KEY), desk)
        self.reseller = Reseller(self)
        reps = [
            SalesRep(
                self, i, rngs.Streams(root, rngs.REP_KEY_BASE + i), engine.Servers(self.env, 1)
            )
            for i in range(params.partner.reps)
        ]
        self.reseller.reps = reps
        self.clients = []
        for i in range(params.market.clients):
            streams = rngs.Streams(root, rngs.CLIENT_KEY_BASE + i)
            client = ClientOrganization(self, i, streams.fresh("population"), streams)
            self.clients.append(client)
            reps[i % len(reps)].territory.append(client)
        self._start_processes()
        if params.market.entry_cost_usd > 0:  # paid up front, in month 1's costs
            self.spend("entry", params.market.entry_cost_usd)
        self.datacollector = mesa.DataCollector(
            model_reporters={name: _reporter(name) for name in MODEL_REPORTERS}
        )
        self.monthly_sample = self.recorder.monthly_row(self, 0)
        self.datacollector.collect(self)

    # ---------------------------------------------------------------- construction
    def _derive(self) -> None:
        """Rates that follow from the parameters; recomputed when the policy changes."""
        p = self.params
        self.comfort_k = rules.comfort_interactions(p.market.culture.uai)
        self.meeting_interval_days = rules.meeting_interval_days(
            p.policy.urgency, p.market.meeting_interval_min_days, p.market.meeting_interval_max_days
        )
        self.followup = rules.followup_factor(p.policy.urgency, p.policy.followup_bound)
        self.overselling = p.policy.overselling if p.mechanisms.overselling else 0.0
        self.meeting_days = 7.0 / p.partner.meetings_per_week
        self.ramp_tau_days = p.market.ramp_tau_days if p.mechanisms.ramp else 0.0
        # the shortest a stall can be (in a downturn, with no early pitch): both factors <= 1
        self.stall_days_least = (
            p.market.stall_days * p.economy.stall_factor * p.market.wiifm_stall_factor
        )
        invest = p.policy.relationship_investment if p.mechanisms.relationship else 0.0
        self.enablement_time_share = invest * p.partner.enablement_time_share
        self._misreads = p.mechanisms.misreads
        self._misread_terms = (
            p.trust.p0,
            p.trust.kappa,
            p.market.culture.context,
            p.vendor.home_context,
        )
        mech = p.mechanisms
        self.pressure_per_meeting = (
            rules.pressure_severity(p.policy.urgency, p.market.urgency_pressure_severity)
            if mech.pressure
            else 0.0
        )
        self.coselling_share = invest * p.partner.coselling_share if mech.coselling else 0.0
        self.coselling_alpha_factor = p.trust.coselling_alpha_factor
        # vendor staff (home context, no bicultural skill) reading the market's clients
        self.coselling_misread_chance = self.misread_probability(0.0)

    def _start_processes(self) -> None:
        """Processes start in a fixed order: same-time events then run in that order."""
        env, mech = self.env, self.params.mechanisms
        if mech.reviews:  # first: a month's review comes before that month's other updates
            env.process(self.vendor.reviewing())
        env.process(self.reseller.committing())
        env.process(self.vendor.enabling())
        if mech.relationship:
            env.process(self.vendor.visiting())
        if mech.downturns:
            env.process(self.economy.downturns())
        if mech.prospecting:
            for rep in self.reseller.reps:
                env.process(rep.prospecting())
        else:
            for client in self.clients:
                rep = self.reseller.reps[client.index % len(self.reseller.reps)]
                env.process(client.selling(rep))
        # last: at a month's end the observer samples after the month-end costs and updates
        env.process(self.observing())

    # ---------------------------------------------------------------- shared state
    @property
    def in_downturn(self) -> bool:
        return self.economy.in_downturn

    @property
    def events(self) -> int:
        """SimPy events processed so far (scheduled minus still queued)."""
        return engine.events_processed(self.env)

    def done(self) -> simpy.Event:
        """An event that has already happened: a process yielding it goes straight on."""
        return engine.processed(self.env)

    def misread_probability(self, bicultural: float) -> float:
        """Chance that the market's signals are misread across the context gap with the
        vendor's home (vendor staff in a meeting, the vendor reading the partner's reports)."""
        if not self._misreads:
            return 0.0
        return rules.misread_probability(*self._misread_terms, bicultural)

    def same_context_misread_probability(self, bicultural: float) -> float:
        """Chance that a rep of the market's own culture misreads its clients: p0 only."""
        if not self._misreads:
            return 0.0
        p0, kappa, context, _ = self._misread_terms
        return rules.misread_probability(p0, kappa, context, context, bicultural)

    def overselling_discovered(self) -> None:
        """A client found it was oversold: later prospects in the market hear of it."""
        self.oversell_discoveries += 1

    def set_policy(self, **levers: Any) -> None:
        """Change policy parameters mid-run (a strategist's decision between months)."""
        dotted = {f"policy.{name}": value for name, value in levers.items()}
        before = self.params.policy
        self.params = parameters.with_overrides(self.params, dotted)
        self._derive()
        policy = self.params.policy
        if not self.vendor.support_cut:
            # the desk takes the policy's staff, except that hires for the backlog stay while
            # desk_response is on and the staff lever itself is unchanged
            kept = policy.desk_response and policy.support_staff == before.support_staff
            if not kept or self.vendor.staff < policy.support_staff:
                self.vendor.set_staff(policy.support_staff)
            self.vendor.turnaround_days = policy.turnaround_days

    def book(self, client: ClientOrganization, kind: str, amount_usd: float) -> None:
        """Revenue: a new deal, a renewal or an expansion, paid now. While the partnership
        lasts the partner sells and keeps its margin; after it, the vendor sells directly."""
        self.recorder.revenue(self.env.now, client.index, kind, amount_usd)
        self.revenue_usd += amount_usd
        self._month_revenue[kind] += amount_usd
        margin = self.params.partner.margin * amount_usd if self.partnership_active else 0.0
        if margin > 0:
            self.recorder.margins.append((self.env.now, margin))
            self.margin_paid_usd += margin
            self._month_margin += margin
            self.reseller.earn(margin)
        self.net_cash_usd += amount_usd - margin
        if kind == "new":
            self.bookings_usd += amount_usd
            self._month_bookings += amount_usd

    def spend(self, kind: str, amount_usd: float) -> None:
        """A vendor cost, paid now."""
        self.recorder.cost(self.env.now, kind, amount_usd)
        self._month_costs += amount_usd
        self.net_cash_usd -= amount_usd

    def annual_recurring_revenue_usd(self) -> float:
        """What the active accounts pay a year."""
        return sum((c.account_value_usd for c in self.clients if c.stage == "customer"), 0.0)

    def churned(self, client: ClientOrganization) -> None:
        self.churned_accounts += 1
        self.recorder.churns.append((self.env.now, client.index))

    def terminate(self, by: str) -> None:
        """The partnership ends, by the vendor or the partner: no new deal closes from now on."""
        if not self.partnership_active:
            return
        self.partnership_active = False
        self.terminated_day = self.env.now
        self.ended_by = by

    # ---------------------------------------------------------------- time
    def observing(self):
        """Monthly observer: one sample of the state at each month's end."""
        month = 0
        while True:
            yield self.env.timeout(rules.MONTH_DAYS)
            month += 1
            self.monthly_sample = self.recorder.monthly_row(self, month)
            self._month_bookings = 0.0
            self._month_revenue = dict.fromkeys(self._month_revenue, 0.0)
            self._month_costs = 0.0
            self._month_margin = 0.0
            self.meetings_this_month = 0

    def step(self) -> None:
        """Mesa adapter: advance the SimPy clock by one month and collect the model reporters."""
        until = min(self.steps * rules.MONTH_DAYS, self.horizon_days) + 1e-9
        if until > self.env.now:
            with _fewer_collections():
                self.env.run(until=until)
        self.datacollector.collect(self)
        if self.env.now >= self.horizon_days - 1e-6:
            self._finish()

    def run_to_end(self) -> None:
        """Run the clock to the horizon (what `simulate` does; no Mesa steps)."""
        with _fewer_collections():
            self.env.run(until=self.horizon_days + 1e-9)
        self._finish()

    def _finish(self) -> None:
        """The horizon is reached: stop, and let the model be freed once nobody holds it."""
        self.running = False
        # Mesa 3.3 numbers agents in a class-level dict keyed by model, which keeps every
        # model and its agents alive for good (Mesa issue #3179, fixed in 3.4, which needs
        # Python 3.12): 10-20 MB per run, so a worker of a long sweep would grow to GBs.
        # No agent is created after the horizon.
        mesa.Agent._ids.pop(self, None)

    def stage_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STAGES, 0)
        for client in self.clients:
            counts[client.stage_now()] += 1
        return counts

    def mean_stakeholder_trust(self) -> float:
        """Mean trust over stakeholders of clients in an open deal or an active account."""
        values = [
            t for c in self.clients if c.deal is not None or c.stage == "customer" for t in c.trust
        ]
        return float(sum(values) / len(values)) if values else math.nan


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the clock with the cyclic garbage collector's youngest generation 30x larger.

    A run allocates many short-lived containers (events, generator frames, lists) that
    reference counting frees; the collector's frequent passes find little, and each one
    costs more as the model grows (4x the clients: 0.53 s of collections in a 5 s run,
    0.16 s with this). The thresholds are restored when the clock stops.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(max(thresholds[0], GC_YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _reporter(name: str):
    return lambda model: model.monthly_sample[name]
