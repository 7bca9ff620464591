"""Sales rep: a reseller employee with limited meeting capacity, a ramp-up and a territory.

Meeting capacity is a SimPy Resource with one server: a meeting holds the rep for
7 / meetings_per_week days, stretched by the share of time the reseller gives other
product lines, so a busy or distracted rep makes opportunities queue.
Process: `prospecting` (opens opportunities in the rep's territory).
"""

from __future__ import annotations

import mesa
import simpy

from agents import rules


class SalesRep(mesa.Agent):
    """A reseller rep selling the vendor's product."""

    def __init__(self, model, index: int, rngs, capacity) -> None:
        super().__init__(model)
        p = model.params
        self.index = index
        self.rngs = rngs
        self.hired_day = 0.0
        self.bicultural = p.partner.bicultural
        self.misread_chance = model.misread_probability(self.bicultural)
        self.capacity = capacity  # a one-server Resource made by the model
        self.territory: list = []
        self.open_deals = 0

    def learn(self, gain: float) -> None:
        """Co-selling and enablement: bicultural skill moves `gain` of the way to 1."""
        self.bicultural += gain * (1.0 - self.bicultural)
        self.misread_chance = self.model.misread_probability(self.bicultural)

    def ramp(self) -> float:
        m = self.model
        return rules.ramp(m.env.now - self.hired_day, m.ramp_tau_days)

    def selling_share(self) -> float:
        """Share of rep time on selling this product: effort, less enablement while ramping."""
        m = self.model
        training = m.enablement_time_share
        if training:
            training *= 1.0 - self.ramp()
        return m.reseller.effort * (1.0 - training)

    def pipeline_limit(self) -> int:
        """Open opportunities the rep can serve at the policy's cadence with its current effort."""
        m = self.model
        p = m.params.partner
        return max(1, round(p.max_open_opportunities * m.reseller.effort))

    def meeting(self, length: float) -> simpy.Event:
        """A meeting (length 1 = a full selling meeting), queueing while the rep is busy.

        Yield the event: it triggers when the meeting is over and the rep free again.
        """
        m = self.model
        if not m.params.mechanisms.capacity:
            return m.done()  # meetings take no rep time
        share = self.selling_share()
        return self.capacity.hold(length * m.meeting_days / (share if share > 0.05 else 0.05))

    def prospecting(self):
        """Open opportunities at rate proportional to capacity, ramp and effort (thinning)."""
        m = self.model
        env, p = m.env, m.params
        rng = self.rngs["prospecting"]
        capacity_ratio = p.partner.meetings_per_week / 10.0
        top_rate_per_day = p.market.prospect_rate_per_month * capacity_ratio / rules.MONTH_DAYS
        if top_rate_per_day <= 0:
            return
        while m.partnership_active:
            yield env.timeout(rng.exponential(1.0 / top_rate_per_day))
            share = self.ramp() * self.selling_share()
            if m.in_downturn:
                share *= p.economy.prospect_factor
            if rng.random() >= share or not m.partnership_active:
                continue
            if self.open_deals >= self.pipeline_limit():
                continue
            available = [c for c in self.territory if c.is_available()]
            if available:
                client = available[int(rng.integers(len(available)))]
                env.process(client.selling(self))
