"""Account life: a won client's renewals, expansion, churn, account contacts and incidents (a
mixin of ClientOrganization). Processes: `maintaining_account` and `suffering_incidents`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agents import rules

if TYPE_CHECKING:
    from agents.deal import Deal


class AccountLife:
    """What happens at a customer after the sale (docs/ODD.md 7.9, 7.10, 7.14)."""

    __slots__ = ()

    def account_contact(self, rng) -> None:
        """Account management: a non-selling review with the customer's buying center."""
        m = self.model
        p = m.params
        m.spend("nurture", p.vendor.nurture_contact_cost_usd)
        everyone = range(self.size)
        if rng.random() < p.market.nonselling_value * self.favourable_chance(everyone):
            self.favour(everyone)

    def maintaining_account(self, deal: Deal):
        """Monthly commitment; yearly renewal with churn and expansion; late discovery.

        After the partnership ends nothing renews for free: the vendor serves the account
        itself at a cost and with more churn (`after_exit = "serve"`), or lets it go at its
        next renewal (`"abandon"`).
        """
        m = self.model
        env, p = m.env, m.params
        rng = self.rngs["account"]
        self.start_using()
        discovery_month = 0
        if not deal.overselling_discovered and self.overselling_discovered_now():
            discovery_month = int(rng.integers(1, 7))
        month = 0
        leaving = False  # discovered overselling: the client leaves at its next renewal
        commitment, trust = self.commitment, self.trust
        after_commitment_month = rules.after_commitment_month
        benefit, eta = p.trust.benefit, p.trust.eta
        while True:
            yield env.timeout(rules.MONTH_DAYS)
            month += 1
            for i, c in enumerate(commitment):
                commitment[i] = after_commitment_month(c, trust[i], benefit, eta)
            policy = m.params.policy  # the policy in force this month
            direct = not m.partnership_active
            if direct and policy.after_exit == "serve":
                m.spend("direct_service", p.vendor.direct_service_usd_per_account_year / 12.0)
            invest = policy.relationship_investment if p.mechanisms.relationship else 0.0
            if not direct and rng.random() < invest:  # the partner's account management
                self.account_contact(rng)
            if month == discovery_month:
                deal.overselling_discovered = True
                self.deceive()
                if p.market.oversell_remedy_share > 0:  # a credit or refund under the contract
                    m.spend("remedy", p.market.oversell_remedy_share * self.account_value_usd)
                leaving = rng.random() < p.market.deception_walkaway
            if month % 12:
                continue
            churn = 0.0
            if p.mechanisms.churn:
                factor = p.economy.churn_factor if m.in_downturn else 1.0
                if direct:
                    factor *= p.market.direct_churn_factor
                churn = rules.churn_probability(
                    p.market.churn_base,
                    p.market.churn_trust_sensitivity,
                    self.mean_trust(),
                    self.mean_commitment(),
                    factor,
                )
            abandoned = direct and policy.after_exit == "abandon"
            if leaving or abandoned or rng.random() < churn:
                self.stage = "churned"
                self.in_use = False
                m.churned(self)
                return
            m.book(self, "renewal", self.account_value_usd)
            if p.mechanisms.expansion and not m.in_downturn:
                extra = self.account_value_usd * p.market.expansion_rate * self.mean_trust()
                if extra > 0:
                    self.account_value_usd += extra
                    m.book(self, "expansion", extra)

    def start_using(self) -> None:
        self.in_use = True
        m = self.model
        if m.params.mechanisms.incidents and not self._incidents_running:
            self._incidents_running = True
            m.env.process(self.suffering_incidents())

    def suffering_incidents(self):
        """Poisson incidents while the product is in use; stops when it no longer is."""
        m = self.model
        env, p = m.env, m.params
        rate_per_day = p.product.incident_rate_per_year / rules.YEAR_DAYS
        if rate_per_day <= 0:
            self._incidents_running = False
            return
        rng = self.rngs["incidents"]
        while True:
            yield env.timeout(rng.exponential(1.0 / rate_per_day))
            if not self.in_use:
                self._incidents_running = False
                return
            severity = min(1.0, rng.exponential(p.product.severity_mean))
            felt = rules.perceived_severity(severity, p.market.severity_scale)
            self.violate_all(felt * p.market.incident_trust_share)
            if self.deal is not None:
                self.deal.incidents += 1
            if self.stage == "customer" and p.market.sla_credit_share > 0:
                m.spend("sla_credit", p.market.sla_credit_share * severity * self.account_value_usd)
