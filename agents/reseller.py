"""Reseller: the Japanese partner's trust in the vendor, its commitment and its effort share.

Trust T_R rises with responsive support, executive visits and co-selling, and falls with
pressure, discovered overselling and support cuts. Commitment follows trust monthly and
sets the share of rep time given to the vendor's product.
Process: `committing` (monthly commitment and effort update).
"""

from __future__ import annotations

import mesa

from agents import rules


class Reseller(mesa.Agent):
    """The partner organization; its reps are SalesRep agents."""

    def __init__(self, model) -> None:
        super().__init__(model)
        p = model.params.partner
        self.trust = p.trust_initial
        self.ceiling = 1.0
        self.commitment = p.commitment_initial
        self.favourable_count = 0
        self.reps: list = []
        self.effort = self.effort_now()

    def effort_now(self) -> float:
        m = self.model
        p = m.params.partner
        return rules.effort_share(
            self.commitment, p.effort_min, p.effort_max, m.in_downturn, p.downturn_effort_cut
        )

    def favour(self) -> None:
        self.trust = rules.after_favourable(
            self.trust, self.ceiling, self.model.params.trust.reseller_alpha
        )
        self.favourable_count += 1

    def violate(self, severity: float) -> None:
        tp = self.model.params.trust
        self.trust = rules.after_violation(
            self.trust,
            severity,
            self.model.params.market.beta,
            self.commitment,
            tp.phi,
            self.favourable_count,
            tp.gamma,
            tp.n0,
        )

    def committing(self):
        """Monthly: commitment moves toward trust and sales success; effort follows it."""
        m = self.model
        while True:
            yield m.env.timeout(rules.MONTH_DAYS)
            p = m.params  # the target in force this month
            if m.vendor.fast_answer_share() >= 0.8:
                self.favour()
            target_usd = p.policy.target_per_rep_usd * p.partner.reps * m.env.now / rules.YEAR_DAYS
            success = 1.0 - rules.shortfall(m.bookings_usd, target_usd)
            goal = rules.partner_commitment_target(
                self.trust, success, p.market.partner_trust_weight
            )
            self.commitment = rules.after_commitment_month(self.commitment, goal, 1.0, p.trust.eta)
            self.effort = self.effort_now()
