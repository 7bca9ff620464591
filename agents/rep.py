"""Sales rep: a reseller employee with limited meeting time, a ramp-up and a territory.

Meeting capacity is a SimPy Resource with one server: a meeting holds the rep for
7 / meetings_per_week days, stretched by the share of time the reseller gives other
product lines, so a busy or distracted rep makes opportunities queue. Rep time is the bound
on the work: leads arrive in proportion to the territory's clients not yet engaged, and a rep
whose meetings waiting exceed `backlog_limit_weeks` lets new leads wait until it has time.
Process: `prospecting` (leads in the rep's territory).
"""

from __future__ import annotations

from collections import deque

import mesa
import simpy

from agents import rules


class SalesRep(mesa.Agent):
    """A reseller rep selling the vendor's product."""

    def __init__(self, model, index: int, rngs, capacity) -> None:
        super().__init__(model)
        self.index = index
        self.rngs = rngs
        self.hired_day = 0.0
        self.capacity = capacity  # a one-server Resource made by the model
        self.territory: list = []
        self.open_deals = 0
        self.waiting_leads: deque = deque()
        self.set_skill(model.params.partner.bicultural)

    def set_skill(self, bicultural: float) -> None:
        """Bicultural skill, and the misread chances that follow from it."""
        self.bicultural = bicultural
        # with its own market's clients the rep reads as well as anyone (same context)
        self.meeting_misread_chance = self.model.same_context_misread_probability(bicultural)
        # its pipeline reports are read by the vendor across the context gap
        self.report_misread_chance = self.model.misread_probability(bicultural)

    def learn(self, gain: float) -> None:
        """Co-selling and enablement: bicultural skill moves `gain` of the way to 1."""
        self.set_skill(self.bicultural + gain * (1.0 - self.bicultural))

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

    def backlog_weeks(self) -> float:
        """Meeting time waiting for the rep, in weeks."""
        return sum(slot.hold_days for slot in self.capacity.queue) / 7.0

    def has_time(self) -> bool:
        return self.backlog_weeks() <= self.model.params.partner.backlog_limit_weeks

    def meeting(self, length: float) -> simpy.Event:
        """A meeting (length 1 = a full selling meeting), queueing while the rep is busy.

        Yield the event: it triggers when the meeting is over and the rep free again.
        """
        m = self.model
        if not m.params.mechanisms.capacity:
            return m.done()  # meetings take no rep time
        share = self.selling_share()
        return self.capacity.hold(length * m.meeting_days / (share if share > 0.05 else 0.05))

    def take_lead(self, client) -> None:
        """Work a lead now if the rep has time, else let it wait for the rep."""
        if self.has_time():
            self.model.env.process(client.selling(self))
        else:
            client.lead_waiting = True
            self.waiting_leads.append(client)

    def take_waiting_leads(self) -> None:
        """Start the leads waiting, oldest first, while the rep has time (and still sells)."""
        waiting = self.waiting_leads
        while waiting and self.model.partnership_active and self.has_time():
            client = waiting.popleft()
            client.lead_waiting = False
            if client.is_available():
                self.model.env.process(client.selling(self))

    def prospecting(self):
        """Leads at rate `lead_rate_per_client_year` per client not yet engaged, thinned by
        ramp, effort and downturns; a warm account is likelier to be the next lead."""
        m = self.model
        env, p = m.env, m.params
        rng = self.rngs["prospecting"]
        territory = self.territory
        top_rate_per_day = p.market.lead_rate_per_client_year * len(territory) / rules.YEAR_DAYS
        if top_rate_per_day <= 0:
            return
        while m.partnership_active:
            yield env.timeout(rng.exponential(1.0 / top_rate_per_day))
            if not m.partnership_active:
                return
            self.take_waiting_leads()
            share = self.ramp() * self.selling_share()
            if m.in_downturn:
                share *= p.economy.prospect_factor
            available = [c for c in territory if c.is_available()]
            if rng.random() >= share * len(available) / len(territory):
                continue
            self.take_lead(self.pick_lead(available, rng.random(), p.market.warm_lead_weight))

    @staticmethod
    def pick_lead(available: list, u: float, warm_weight: float):
        """The client a uniform `u` picks, a warm account counting `warm_weight` times."""
        weights = [warm_weight if c.warm else 1.0 for c in available]
        pick = u * sum(weights)
        for client, weight in zip(available, weights, strict=True):
            pick -= weight
            if pick < 0:
                return client
        return available[-1]
