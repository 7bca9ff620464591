"""Client organization: a buying center of stakeholders, its opportunities and its account.

Organizations differ (docs/ODD.md 5): a deal value, a need (value against price) for each
stakeholder around the organization's, whether it is one of the reseller's own customers
(warm), and an incumbent product of some strength. Stakeholders are parallel lists inside the
organization (trust T, ceiling T_max, favourable count n, commitment C, need; index 0 is the
decider), which is faster than one agent each for 4-15 people. An opportunity ends won, lost
to a competitor, in no decision, or stalled.
Processes: `selling` (one opportunity from first contact to decision), `nurturing`
(non-selling nemawashi contacts) and `circulating_ringi`. The buying center's trust updates
are in `agents/stakeholders.py`, the account's life after a win (`maintaining_account`,
`suffering_incidents`) in `agents/account.py`, the deal record in `agents/deal.py`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa

from agents import rules
from agents.account import AccountLife
from agents.deal import DEAL_FIELDS, OUTCOMES, STAGES, Deal
from agents.stakeholders import Stakeholders

if TYPE_CHECKING:
    from agents.rep import SalesRep

__all__ = ["DEAL_FIELDS", "OUTCOMES", "STAGES", "ClientOrganization", "Deal"]


class ClientOrganization(Stakeholders, AccountLife, mesa.Agent):
    """A client organization of one market, with its buying center and account."""

    def __init__(self, model, index: int, rng_population, rngs) -> None:
        super().__init__(model)
        p = model.params
        market = p.market
        self.index = index
        self.rngs = rngs
        draw = rng_population
        # The population is drawn from its own stream: identical under every policy.
        self.deal_value_usd = float(
            market.deal_value_median_usd * math.exp(market.deal_value_sigma * draw.gauss())
        )
        self.value_ratio = float(
            market.value_ratio_median * math.exp(market.value_ratio_sigma * draw.gauss())
        )
        size = int(draw.integers(market.stakeholders_min, market.stakeholders_max + 1))
        self.n_approvers = min(
            size, int(draw.integers(market.n_approvers_min, market.n_approvers_max + 1))
        )
        # Drawn whatever the switches say, so that switching a mechanism off keeps the rest of
        # the population as it was (common random numbers across configurations too).
        spread = market.need_sigma_within
        self.need = [self.value_ratio * math.exp(spread * draw.gauss()) for _ in range(size)]
        warm = draw.random() < market.warm_share
        has_incumbent = draw.random() < market.incumbent_share
        mean = market.incumbent_strength_mean
        strength = draw.betavariate(2.0 * mean, 2.0 * (1.0 - mean))
        mech = p.mechanisms
        self.warm = warm and mech.warm_accounts
        # the reseller knows its own customers' needs: it never opens a deal without one
        self.known_without_need = self.warm and self.value_ratio < 1.0
        self.incumbent_strength = strength if has_incumbent and mech.competitors else 0.0
        self.budget_start_day = draw.random() * rules.YEAR_DAYS
        self.trust = [market.trust_initial] * size
        self.ceiling = [market.trust_ceiling] * size
        interactions = round(market.warm_interactions_share * model.comfort_k) if self.warm else 0
        self.favourable = [interactions] * size
        self.commitment = [0.0] * size
        # Comfort is kept up to date by every trust update, so that the selling loop's
        # consensus and key-people checks are O(1).
        self._alpha, self._theta, self._comfort_k = market.alpha, market.theta, model.comfort_k
        self.at_ease = [
            rules.is_comfortable(t, n, self._theta, self._comfort_k)
            for t, n in zip(self.trust, self.favourable, strict=True)
        ]
        self.comfortable_count = sum(self.at_ease)
        self.stage = "prospect"
        self.available_day = 0.0
        self.account_value_usd = 0.0
        self.in_use = False  # the product is in evaluation or in production here
        self.deal: Deal | None = None
        self.contacted = False  # trust is set at the first contact (warmth, reputation)
        self.lead_waiting = False  # a lead waiting for its rep's time
        self.pitch_meeting = 0
        self.last_progress_day = 0.0
        self._incidents_running = False

    # ---------------------------------------------------------------- state queries
    @property
    def size(self) -> int:
        return len(self.trust)

    def stage_now(self) -> str:
        """Pipeline stage; a lost client is a prospect again after the cool-off."""
        if self.stage == "lost" and self.model.env.now >= self.available_day:
            return "prospect"
        return self.stage

    def is_available(self) -> bool:
        """Open to a new opportunity: a prospect no lead is waiting for, not known to lack need."""
        if self.lead_waiting or self.known_without_need:
            return False
        return self.stage_now() == "prospect"

    def comfortable(self, i: int) -> bool:
        return self.at_ease[i]

    def key_comfortable(self) -> bool:
        """Economic buyer (decider) and a champion (a user or influencer, or anyone) comfortable."""
        if not self.at_ease[0]:
            return False
        return len(self.trust) == 1 or self.comfortable_count > 1

    def consensus(self) -> bool:
        return self.comfortable_count == len(self.trust)

    def mean_trust(self) -> float:
        return sum(self.trust) / len(self.trust)

    def mean_commitment(self) -> float:
        return sum(self.commitment) / len(self.commitment)

    # ---------------------------------------------------------------- selling
    def favourable_chance(self, people) -> float:
        m = self.model
        p = m.params
        if p.mechanisms.trust_in_favourable:
            mean = sum(map(self.trust.__getitem__, people)) / len(people)
        else:
            mean = p.market.trust_initial
        return rules.favourable_probability(p.product.fit, p.market.favourable_base, mean)

    def meeting_outcome(self, present: list[int], random) -> list[int]:
        """The attendees a meeting favours, each drawn on their own trust.

        Outcomes are correlated through the meeting: each attendee's uniform is the meeting's
        shared one with probability `meeting_correlation`, else its own, so every attendee is
        favoured with its own q_i while a good or bad meeting moves several at once. With
        `mechanisms.individual_outcomes` off, one draw on the mean trust decides for the room.
        """
        p = self.model.params
        if not p.mechanisms.individual_outcomes:
            return present if random() < self.favourable_chance(present) else []
        fit, base = p.product.fit, p.market.favourable_base
        rho = p.trust.meeting_correlation
        shared = random()
        if not p.mechanisms.trust_in_favourable:
            q = rules.favourable_probability(fit, base, p.market.trust_initial)
            return [i for i in present if (shared if random() < rho else random()) < q]
        trust, slope = self.trust, fit * (1.0 - base)
        floor = fit * base
        # q_i = fit * (base + (1 - base) * T_i), T_i in [0, 1]: rules.favourable_probability
        return [
            i
            for i in present
            if (shared if random() < rho else random()) < floor + slope * trust[i]
        ]

    def selling(self, rep: SalesRep):
        """One opportunity: meetings at the policy's cadence until it ends (docs/ODD.md 7.3)."""
        m = self.model
        env, p = m.env, m.params
        mech, market = p.mechanisms, p.market
        draws = self.rngs["meetings"]
        random = draws.random
        if not self.contacted:
            self.first_contact()
        deal = Deal(self.index, market.name, self.size, rep.index, env.now, self.warm)
        self.deal = deal
        self.stage = "engaged"
        m.recorder.deals.append(deal)
        rep.open_deals += 1
        if mech.relationship:
            env.process(self.nurturing(rep, deal))
        self.last_progress_day = env.now
        accept_lift = p.product.oversell_accept_lift
        consensus = market.decision_rule == "consensus_ringi"
        checked_day = env.now  # the freeze hazard is drawn for the time since this day
        evaluated = False
        outcome = None
        while outcome is None:
            yield env.timeout(draws.exponential(m.meeting_interval_days))
            if not m.partnership_active:
                outcome = "stalled"  # nobody sells it any more
                break
            idle_days = env.now - self.last_progress_day
            # stall_days() is at least m.stall_days_least: most meetings need not ask it
            if mech.stalls and idle_days > m.stall_days_least and idle_days > self.stall_days(deal):
                outcome = "stalled"
                break
            if mech.freezes:
                if random() < rules.event_probability(
                    self.freeze_rate(consensus), env.now - checked_day
                ):
                    outcome = "no_decision"
                    break
                checked_day = env.now
            if random() >= market.meeting_accept_prob + m.overselling * accept_lift:
                continue
            yield rep.meeting(1.0)
            deal.meetings += 1
            m.meetings_this_month += 1
            present = self.attendees(random)
            if m.pressure_per_meeting > 0:  # deadlines pushed on those not yet at ease
                self.press(present)
            cosold = m.coselling_share > 0 and random() < m.coselling_share
            if random() < rep.meeting_misread_chance:  # the rep misreads its own client
                deal.misreads += 1
                favoured = None
            else:
                favoured = self.meeting_outcome(present, random)
            if cosold and random() < m.coselling_misread_chance:
                # vendor staff read "we will consider it" as a yes: the rep still reads the
                # room, but the vendor hears a step towards a close
                deal.misreads += 1
                deal.forecast_misreads += 1
            if favoured:
                self.favour(favoured, alpha_factor=m.coselling_alpha_factor if cosold else 1.0)
                self.last_progress_day = env.now
            elif random() < rep.report_misread_chance:
                # "we will consider it", reported to the vendor as a step towards yes
                deal.forecast_misreads += 1
            self.maybe_pitch(deal)
            asks_documents = mech.documents and random() < market.doc_prob
            if asks_documents and not (yield from m.vendor.answering(self, deal)):
                outcome = "stalled"
                break
            if not self.decision_ready(deal):
                continue
            if deal.comfort_day is None:
                deal.comfort_day = env.now
                deal.proposal_day = env.now
            if mech.poc and not evaluated:
                evaluated = True
                walked_away = yield from self.evaluating(deal)
                if walked_away:
                    outcome = "lost_competitor" if self.incumbent_strength > 0 else "no_decision"
                    break
                if not m.partnership_active:
                    outcome = "stalled"
                    break
                if not self.decision_ready(deal):
                    continue
            outcome = yield from self.deciding(deal)
        self.close(deal, outcome, rep)

    def budget_wait_days(self) -> float:
        """Days until this client can fund the purchase. A warm account buys under its existing
        contract with the reseller, without a new budget line; a cold one waits for its window."""
        p = self.model.params
        if not p.mechanisms.budgets or self.warm:
            return 0.0
        return rules.budget_wait_days(
            self.model.env.now, self.budget_start_day, p.market.budget_window_days
        )

    def freeze_rate(self, consensus: bool) -> float:
        """Hazard per year that the buyer freezes the deal; higher while a consensus buying
        center has a stakeholder whose trust is lost (an unresolved blocker)."""
        market = self.model.params.market
        rate = market.freeze_rate_per_year
        blockers = consensus and self.model.params.mechanisms.blockers
        if blockers and min(self.trust) < market.blocker_trust_floor:
            rate += market.blocker_freeze_rate_per_year
        return rate

    def attendees(self, random) -> list[int]:
        """Who comes to a group meeting (one draw each); the decider when nobody else does.

        A buying center larger than `meeting_seats` is met in parts: each stakeholder attends
        with `attendance * seats / N`, so every extra stakeholder makes each meeting cover a
        smaller share of the center (rules.attendance_probability).
        """
        market = self.model.params.market
        size = len(self.trust)
        attendance = rules.attendance_probability(market.attendance, market.meeting_seats, size)
        if attendance >= 1.0:
            return list(range(size))
        return [i for i in range(size) if random() < attendance] or [0]

    def stall_left_days(self, deal: Deal) -> float | None:
        """Days until the opportunity stalls if nothing progresses; None when stalls are off."""
        m = self.model
        if not m.params.mechanisms.stalls:
            return None
        return self.stall_days(deal) - (m.env.now - self.last_progress_day)

    def stall_days(self, deal: Deal) -> float:
        """Days without progress before the opportunity is lost."""
        m = self.model
        p = m.params
        days = p.market.stall_days
        if m.in_downturn:
            days *= p.economy.stall_factor
        if p.mechanisms.wiifm and self.pitched_late(deal):
            days *= p.market.wiifm_stall_factor
        return days

    def pitched_late(self, deal: Deal) -> bool:
        """U.S. buyers lose interest when no proposition came in their first meetings."""
        wiifm = self.model.params.market.wiifm_meetings
        if wiifm <= 0 or deal.meetings < wiifm:
            return False
        return deal.pitch_day is None or self.pitch_meeting > wiifm

    def maybe_pitch(self, deal: Deal) -> None:
        """Make the proposition when the policy's timing says so; too early is too direct."""
        if deal.pitch_day is not None:
            return
        m = self.model
        timing = m.params.policy.proposal_timing
        if timing == "first_meeting":
            ready = True
        elif timing == "after_key_comfortable":
            ready = self.key_comfortable()
        else:
            ready = self.consensus()
        if not ready:
            return
        deal.pitch_day = m.env.now
        self.pitch_meeting = deal.meetings
        severity = m.params.market.too_direct_severity
        if severity > 0:
            for i in range(self.size):
                if not self.comfortable(i):
                    self.violate(i, severity)

    def decision_ready(self, deal: Deal) -> bool:
        """The buying center's condition to decide: key people (U.S.) or consensus (Japan)."""
        if deal.pitch_day is None:
            return False
        if self.model.params.market.decision_rule == "champion_buyer":
            return self.key_comfortable()
        return self.consensus()

    def evaluating(self, deal: Deal):
        """Proof of concept: the product in use; overselling may be discovered at its end."""
        m = self.model
        p = m.params
        deal.evaluation_day = m.env.now
        self.stage = "evaluation"
        self.start_using()
        yield m.env.timeout(p.market.poc_days)
        self.in_use = False
        self.stage = "engaged"
        self.last_progress_day = m.env.now
        if self.overselling_discovered_now():
            deal.overselling_discovered = True
            self.deceive()
            return self.rngs["evaluation"].random() < p.market.deception_walkaway
        return False

    def overselling_discovered_now(self) -> bool:
        m = self.model
        if not m.params.mechanisms.overselling or m.overselling <= 0:
            return False
        chance = m.overselling * m.params.product.oversell_discovery
        return bool(self.rngs["evaluation"].random() < chance)

    def deciding(self, deal: Deal):
        """The decision (docs/ODD.md 7.3 step 9): blockers, value, the incumbent, the ringi.

        Under consensus a single blocker ends the deal in no decision; the U.S. rule asks the
        organization's value against the price. A buyer who would buy may still choose the
        incumbent. Then the ringi (Japan): a rejection in every round is no decision too.
        """
        m = self.model
        p = m.params
        mech, market = p.mechanisms, p.market
        if not m.partnership_active:
            return "stalled"
        consensus = market.decision_rule == "consensus_ringi"
        if consensus and mech.blockers and self.blocker_count() > 0:
            return "no_decision"
        wait_days = self.budget_wait_days()
        if wait_days > 0:  # ready, but the money comes with next year's budget
            yield m.env.timeout(wait_days)
            freeze = rules.event_probability(self.freeze_rate(consensus), wait_days)
            if mech.freezes and self.rngs["competition"].random() < freeze:
                return "no_decision"
            if not m.partnership_active:
                return "stalled"
            self.last_progress_day = m.env.now
        if mech.value_check:
            lift = p.product.oversell_value_lift * market.oversell_credibility * m.overselling
            bond = market.relationship_value * (self.mean_trust() - market.trust_initial)
            if self.value_ratio * (1.0 + lift) * (1.0 + bond) < 1.0:
                return "no_decision"
        if self.incumbent_strength > 0:
            chance = rules.competitor_probability(
                self.incumbent_strength, market.competitor_weight, self.mean_trust()
            )
            if self.rngs["competition"].random() < chance:
                return "lost_competitor"
        if not consensus or not mech.ringi:
            return "won"
        deal.ringi_start_day = m.env.now
        self.stage = "ringi"
        approved = yield from self.circulating_ringi(deal)
        self.stage = "engaged"
        if approved is None or not m.partnership_active:
            return "stalled"
        return "won" if approved else "no_decision"

    def circulating_ringi(self, deal: Deal):
        """The ringi-sho goes through the approvers in turn; a rejection restarts it.

        Returns True when every approver signs, False when the rounds run out, and None when
        an approver's document request is never answered (the opportunity stalls). Its start
        and each signature are progress.
        """
        m = self.model
        env, p = m.env, m.params
        rng = self.rngs["ringi"]
        approvers = range(self.n_approvers - 1, -1, -1)  # the decider signs last
        self.last_progress_day = env.now
        for _ in range(p.market.ringi_max_rounds):
            deal.ringi_rounds += 1
            for i in approvers:
                step_days = p.market.ringi_step_days * m.followup  # follow-ups in force now
                if step_days > 0:
                    yield env.timeout(rng.exponential(step_days))
                asks_documents = p.mechanisms.documents and rng.random() < p.market.doc_prob
                if asks_documents and not (yield from m.vendor.answering(self, deal)):
                    return None
                chance = rules.ringi_approval_probability(
                    p.market.ringi_approval, self.trust[i], p.market.theta
                )
                if rng.random() >= chance:
                    break
                self.last_progress_day = env.now
            else:
                return True
        return False

    def close(self, deal: Deal, outcome: str, rep: SalesRep) -> None:
        m = self.model
        deal.outcome = outcome
        deal.decision_day = m.env.now
        if m.params.mechanisms.blockers:
            deal.blockers = self.blocker_count()
        rep.open_deals -= 1
        self.deal = None
        if outcome == "won":
            deal.value_usd = self.deal_value_usd
            self.stage = "customer"
            self.account_value_usd = self.deal_value_usd
            m.book(self, "new", self.deal_value_usd)
            m.env.process(self.maintaining_account(deal))
        else:
            self.stage = "lost"
            self.available_day = m.env.now + m.params.market.requalify_days
        rep.take_waiting_leads()

    # ---------------------------------------------------------------- relationship
    def nurturing(self, rep: SalesRep, deal: Deal):
        """Non-selling contacts, one stakeholder at a time (nemawashi), while the deal is open.

        Contacts follow the relationship investment in force (`set_policy` may change it):
        none while it is 0, when the process looks again a month later.
        """
        m = self.model
        env = m.env
        rng = self.rngs["nurturing"]
        at_ease, favourable = self.at_ease, self.favourable
        while True:
            rate_per_day = self._nurture_rate_per_day()
            gap_days = rng.exponential(1.0 / rate_per_day) if rate_per_day > 0 else rules.MONTH_DAYS
            yield env.timeout(gap_days)
            if deal.outcome != "open" or not m.partnership_active:
                return
            if rate_per_day <= 0 or self._nurture_rate_per_day() <= 0:
                continue  # no relationship investment in force: no contact
            p = m.params
            # the least-won-over stakeholder not yet comfortable; the decider once all are
            uneasy = [j for j, ok in enumerate(at_ease) if not ok]
            i = min(uneasy, key=favourable.__getitem__) if uneasy else 0
            yield rep.meeting(p.policy.nurture_meeting_length)
            deal.nurture_contacts += 1
            m.spend("nurture", p.vendor.nurture_contact_cost_usd)
            if rng.random() < rep.meeting_misread_chance:
                deal.misreads += 1
            elif rng.random() < p.market.nonselling_value * self.favourable_chance((i,)):
                # nemawashi: the proposal discussed one to one can settle this person's doubts
                counted = rng.random() < p.market.nemawashi_counts
                self.favour((i,), counted=counted)
                self.build_commitment(i)
                self.last_progress_day = env.now

    def _nurture_rate_per_day(self) -> float:
        policy = self.model.params.policy
        return policy.relationship_investment * policy.nurture_contacts_per_month / rules.MONTH_DAYS

    def executive_visit(self) -> None:
        """A vendor executive meets the whole buying center: trust for each, by value."""
        p = self.model.params
        rng = self.rngs["executive_visits"]
        value = p.market.nonselling_value
        favoured = [i for i in range(self.size) if rng.random() < value]
        self.favour(favoured, counted=False)
        for i in favoured:
            self.build_commitment(i)
        self.last_progress_day = self.model.env.now
