"""Stakeholders: the buying center's trust updates, kept with its organization (a mixin of
ClientOrganization). Trust T, ceiling T_max, favourable count n and commitment C are parallel
lists; every update goes through `agents/rules.py` and keeps each stakeholder's comfort flag
current, so that consensus and key-people checks are O(1).
"""

from __future__ import annotations

import math

from agents import rules


class Stakeholders:
    """Trust updates of a client organization's buying center (docs/ODD.md 7.1)."""

    __slots__ = ()

    def _settle(self, i: int) -> None:
        """Bring stakeholder i's comfort flag up to date after its trust changed."""
        now = rules.is_comfortable(self.trust[i], self.favourable[i], self._theta, self._comfort_k)
        if now is not self.at_ease[i]:
            self.at_ease[i] = now
            self.comfortable_count += 1 if now else -1

    def favour(self, people, *, counted: bool = True, alpha_factor: float = 1.0) -> None:
        """A favourable interaction with each stakeholder in `people` (indices).

        A non-selling contact (`counted=False`) raises trust but not the count n: comfort's
        k interactions settle the buyer's uncertainty about the offer (UAI), which only
        meetings about it do. More trust and one more interaction never end comfort, so only
        the stakeholders not yet at ease are checked.
        """
        trust, ceiling, favourable = self.trust, self.ceiling, self.favourable
        at_ease = self.at_ease
        alpha, theta, k = min(1.0, self._alpha * alpha_factor), self._theta, self._comfort_k
        after_favourable, is_comfortable = rules.after_favourable, rules.is_comfortable
        for i in people:
            trust[i] = after_favourable(trust[i], ceiling[i], alpha)
            if counted:
                favourable[i] += 1
            if not at_ease[i] and is_comfortable(trust[i], favourable[i], theta, k):
                at_ease[i] = True
                self.comfortable_count += 1

    def violate(self, i: int, severity: float) -> None:
        """A violation: trust falls (absolute, early breaches weigh more); before comfort, it
        also undoes favourable interactions (getting comfortable partly starts over)."""
        p = self.model.params
        tp = p.trust
        self.trust[i] = rules.after_violation(
            self.trust[i],
            severity,
            p.market.beta,
            self.commitment[i],
            tp.phi,
            self.favourable[i],
            tp.gamma,
            tp.n0,
        )
        if not self.at_ease[i] and p.mechanisms.comfort_setback:
            self.favourable[i] = rules.after_setback(
                self.favourable[i], severity, tp.comfort_setback
            )
        self._settle(i)

    def press(self, present: list[int]) -> None:
        """Urgency's pressure on each attendee not yet at ease: `violate` for each, inlined.

        It runs at most meetings, so it does in one pass what `violate` does: the absolute
        loss (rules.after_violation) and the setback (rules.after_setback). Lower trust keeps a
        stakeholder who is not at ease where it is, so no comfort flag can change.
        """
        p = self.model.params
        tp = p.trust
        severity = self.model.pressure_per_meeting
        base_loss = p.market.beta * severity
        setback = math.floor(tp.comfort_setback * severity + 0.5)
        if not p.mechanisms.comfort_setback:
            setback = 0
        gamma, n0, phi = tp.gamma, tp.n0, tp.phi
        trust, favourable, commitment, at_ease = (
            self.trust,
            self.favourable,
            self.commitment,
            self.at_ease,
        )
        exp = math.exp
        for i in present:
            if at_ease[i]:
                continue
            n = favourable[i]
            loss = base_loss * (1.0 + gamma * exp(-n / n0)) * (1.0 - phi * commitment[i])
            t = trust[i] - loss
            trust[i] = t if t > 0.0 else 0.0
            if setback:
                favourable[i] = n - setback if n > setback else 0

    def build_commitment(self, i: int) -> None:
        """A favourable relationship contact during a sale: a fraction of a month's commitment."""
        p = self.model.params
        if p.mechanisms.presale_commitment:
            tp = p.trust
            self.commitment[i] = rules.after_commitment_month(
                self.commitment[i], self.trust[i], tp.benefit, tp.eta * tp.presale_commitment_share
            )

    def first_contact(self) -> None:
        """Trust at the first contact: reputation in the market, plus what a warm account's
        stakeholders carry over from the reseller."""
        m = self.model
        p = m.params
        self.contacted = True
        start = p.market.trust_initial
        if p.mechanisms.reputation:
            market = p.market
            start = rules.reputation_trust(
                start,
                m.oversell_discoveries,
                market.reputation_reach,
                market.clients,
                market.reputation_trust_loss,
            )
        for i in range(self.size):
            trust = start
            if self.warm:
                trust = rules.warm_trust(
                    trust, self.ceiling[i], m.reseller.trust, p.market.warm_trust_transfer
                )
            self.trust[i] = min(trust, self.ceiling[i])
            self._settle(i)

    def blocker_count(self) -> int:
        """Stakeholders who block now: the offer worth less than its price to them (with the
        relationship's bond and what overselling promises), or their trust lost."""
        p = self.model.params
        market = p.market
        lift = p.product.oversell_value_lift * market.oversell_credibility * self.model.overselling
        value, start, floor = (
            market.relationship_value,
            market.trust_initial,
            market.blocker_trust_floor,
        )
        return sum(
            rules.is_blocker(rules.perceived_need(need, lift, value * (t - start)), t, floor)
            for need, t in zip(self.need, self.trust, strict=True)
        )

    def violate_all(self, severity: float) -> None:
        for i in range(self.size):
            self.violate(i, severity)

    def deceive(self) -> None:
        """Discovered overselling: an integrity violation and a scar on every ceiling, as far
        as the market feels it as lost trust (`deception_trust_share`), and the reseller's
        doubts about the vendor's reliability."""
        m = self.model
        p = m.params
        felt = rules.perceived_severity(p.trust.deception_severity, p.market.severity_scale)
        share = p.market.deception_trust_share  # the rest is settled as a contract remedy
        severity, scar = felt * share, p.trust.d_scar * share
        for i in range(self.size):
            self.ceiling[i] = rules.scarred_ceiling(self.ceiling[i], scar)
            self.trust[i] = min(self.trust[i], self.ceiling[i])
            self.violate(i, severity)  # settles comfort too
        m.reseller.violate(felt * 0.5 * p.market.partner_sensitivity)
        m.overselling_discovered()
