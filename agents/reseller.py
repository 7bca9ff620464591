"""Reseller: the partner's trust in the vendor, its commitment, its effort and its economics.

Trust T_R rises with responsive support, executive visits and co-selling, and falls with
pressure, discovered overselling and support cuts; pressure and cuts also scar its ceiling.
The partner weighs its margin on this vendor's sales against what the same rep time earns
on its other lines (its return); commitment follows trust and that return, and sets the
share of rep time given to the vendor's product. A partner whose commitment and return stay
below its thresholds for `partner.patience_months` drops the vendor.
Process: `committing` (monthly commitment, effort and the partner's decision to stay).
"""

from __future__ import annotations

from collections import deque

import mesa

from agents import rules

RETURN_WINDOW_MONTHS = 12  # the partner judges its return over the last year


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
        self.return_ratio = 0.0  # margin earned against what the rep time earns elsewhere
        self.margin_this_month_usd = 0.0
        self.margins_usd: deque[float] = deque(maxlen=RETURN_WINDOW_MONTHS)
        self.rep_time_usd: deque[float] = deque(maxlen=RETURN_WINDOW_MONTHS)
        self.months_below = 0  # consecutive months below both exit thresholds
        self.rep_cost_usd = 0.0  # what the rep time given to this vendor has cost it

    def effort_now(self) -> float:
        """Share of rep time on the vendor's product: f(C_R); none once the partnership ended."""
        m = self.model
        if not m.partnership_active:
            return 0.0
        p = m.params.partner
        return rules.effort_share(
            self.commitment, p.effort_min, p.effort_max, m.in_downturn, p.downturn_effort_cut
        )

    def earn(self, margin_usd: float) -> None:
        """The partner's margin on a sale it made."""
        self.margin_this_month_usd += margin_usd

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

    def scar(self, amount: float) -> None:
        """Pressure and support cuts lower the trust ceiling for good."""
        self.ceiling = rules.scarred_ceiling(self.ceiling, amount)
        self.trust = min(self.trust, self.ceiling)

    def committing(self):
        """Monthly: the partner's return, its commitment and effort, and whether it stays."""
        m = self.model
        while True:
            yield m.env.timeout(rules.MONTH_DAYS)
            p = m.params  # the policy in force this month
            partner = p.partner
            if m.vendor.fast_answer_share() >= 0.8:
                self.favour()
            if not m.partnership_active:  # the reps sell other lines only
                self.effort = 0.0
                continue
            rep_time_usd = self.effort * partner.reps * partner.other_lines_usd_per_rep_year / 12
            self.rep_cost_usd += self.effort * partner.reps * partner.rep_cost_usd_per_year / 12
            self.margins_usd.append(self.margin_this_month_usd)
            self.rep_time_usd.append(rep_time_usd)
            self.margin_this_month_usd = 0.0
            self.return_ratio = rules.partner_return(sum(self.margins_usd), sum(self.rep_time_usd))
            goal = rules.partner_commitment_target(
                self.trust, min(1.0, self.return_ratio), p.market.partner_trust_weight
            )
            self.commitment = rules.after_commitment_month(self.commitment, goal, 1.0, p.trust.eta)
            self.effort = self.effort_now()
            if not p.mechanisms.partner_exit:
                continue
            below = self.commitment < partner.exit_commitment and (
                self.return_ratio < partner.exit_return
            )
            self.months_below = self.months_below + 1 if below else 0
            if self.months_below >= max(1, partner.patience_months):
                m.terminate(by="partner")
