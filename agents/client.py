"""Client organization: a buying center of stakeholders, its opportunities and its account.

Stakeholders are parallel lists inside the organization (trust T, ceiling T_max, favourable
count n, commitment C; index 0 is the decider), which is faster than one agent each for 4-15 people.
Processes: `selling` (one opportunity from first contact to decision), `nurturing`
(non-selling nemawashi contacts), `circulating_ringi`, `maintaining_account` (renewal,
expansion, churn) and `suffering_incidents` while the product is in use.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import mesa

from agents import rules

if TYPE_CHECKING:
    from agents.rep import SalesRep

STAGES = ("prospect", "engaged", "evaluation", "ringi", "customer", "churned", "lost")
OUTCOMES = ("won", "lost", "stalled", "open")

DEAL_FIELDS = (
    "client",
    "market",
    "stakeholders",
    "rep",
    "first_contact_day",
    "pitch_day",
    "comfort_day",
    "proposal_day",
    "evaluation_day",
    "ringi_start_day",
    "decision_day",
    "outcome",
    "value_usd",
    "meetings",
    "nurture_contacts",
    "documents",
    "misreads",
    "ringi_rounds",
    "overselling_discovered",
    "incidents",
)


class Deal:
    """One opportunity's record; appended to the recorder when the opportunity opens."""

    __slots__ = DEAL_FIELDS

    def __init__(self, client: int, market: str, stakeholders: int, rep: int, day: float):
        self.client, self.market, self.stakeholders, self.rep = client, market, stakeholders, rep
        self.first_contact_day = day
        self.pitch_day = self.comfort_day = self.proposal_day = None
        self.evaluation_day = self.ringi_start_day = self.decision_day = None
        self.outcome = "open"
        self.value_usd = 0.0
        self.meetings = self.nurture_contacts = self.documents = self.misreads = 0
        self.ringi_rounds = self.incidents = 0
        self.overselling_discovered = False


class ClientOrganization(mesa.Agent):
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
        self.trust = [market.trust_initial] * size
        self.ceiling = [market.trust_ceiling] * size
        self.favourable = [0] * size
        self.commitment = [0.0] * size
        # Comfort is kept up to date by every trust update, so that the selling loop's
        # consensus and key-people checks are O(1).
        self._alpha, self._theta, self._comfort_k = market.alpha, market.theta, model.comfort_k
        self.at_ease = [
            rules.is_comfortable(t, 0, self._theta, self._comfort_k) for t in self.trust
        ]
        self.comfortable_count = sum(self.at_ease)
        self.stage = "prospect"
        self.available_day = 0.0
        self.account_value_usd = 0.0
        self.in_use = False  # the product is in evaluation or in production here
        self.deal: Deal | None = None
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

    # ---------------------------------------------------------------- trust updates
    def _settle(self, i: int) -> None:
        """Bring stakeholder i's comfort flag up to date after its trust changed."""
        now = rules.is_comfortable(self.trust[i], self.favourable[i], self._theta, self._comfort_k)
        if now is not self.at_ease[i]:
            self.at_ease[i] = now
            self.comfortable_count += 1 if now else -1

    def favour(self, people, *, counted: bool = True) -> None:
        """A favourable interaction with each stakeholder in `people` (indices).

        A non-selling contact (`counted=False`) raises trust but not the count n: comfort's
        k interactions settle the buyer's uncertainty about the offer (UAI), which only
        meetings about it do. More trust and one more interaction never end comfort, so only
        the stakeholders not yet at ease are checked.
        """
        trust, ceiling, favourable = self.trust, self.ceiling, self.favourable
        at_ease = self.at_ease
        alpha, theta, k = self._alpha, self._theta, self._comfort_k
        after_favourable, is_comfortable = rules.after_favourable, rules.is_comfortable
        for i in people:
            trust[i] = after_favourable(trust[i], ceiling[i], alpha)
            if counted:
                favourable[i] += 1
            if not at_ease[i] and is_comfortable(trust[i], favourable[i], theta, k):
                at_ease[i] = True
                self.comfortable_count += 1

    def violate(self, i: int, severity: float) -> None:
        tp = self.model.params.trust
        self.trust[i] = rules.after_violation(
            self.trust[i],
            severity,
            self.model.params.market.beta,
            self.commitment[i],
            tp.phi,
            self.favourable[i],
            tp.gamma,
            tp.n0,
        )
        self._settle(i)

    def violate_all(self, severity: float) -> None:
        for i in range(self.size):
            self.violate(i, severity)

    def deceive(self) -> None:
        """Discovered overselling: an integrity violation and a scar on every ceiling."""
        m = self.model
        p = m.params
        severity = rules.perceived_severity(p.trust.deception_severity, p.market.severity_scale)
        for i in range(self.size):
            self.ceiling[i] = rules.scarred_ceiling(self.ceiling[i], p.trust.d_scar)
            self.trust[i] = min(self.trust[i], self.ceiling[i])
            self.violate(i, severity)  # settles comfort too
        m.reseller.violate(severity * 0.5 * p.market.partner_sensitivity)

    # ---------------------------------------------------------------- selling
    def favourable_chance(self, people) -> float:
        m = self.model
        p = m.params
        if p.mechanisms.trust_in_favourable:
            mean = sum(map(self.trust.__getitem__, people)) / len(people)
        else:
            mean = p.market.trust_initial
        return rules.favourable_probability(p.product.fit, p.market.favourable_base, mean)

    def selling(self, rep: SalesRep):
        """One opportunity: meetings at the policy's cadence until a decision or a stall."""
        m = self.model
        env, p = m.env, m.params
        mech, market = p.mechanisms, p.market
        draws = self.rngs["meetings"]
        random = draws.random
        deal = Deal(self.index, market.name, self.size, rep.index, env.now)
        self.deal = deal
        self.stage = "engaged"
        m.recorder.deals.append(deal)
        rep.open_deals += 1
        if mech.relationship:
            env.process(self.nurturing(rep, deal))
        self.last_progress_day = env.now
        accept_lift = p.product.oversell_accept_lift
        evaluated = False
        outcome = None
        while outcome is None:
            yield env.timeout(draws.exponential(m.meeting_interval_days))
            if not m.partnership_active:
                outcome = "lost"
                break
            idle_days = env.now - self.last_progress_day
            # stall_days() is at least m.stall_days_least: most meetings need not ask it
            if mech.stalls and idle_days > m.stall_days_least and idle_days > self.stall_days(deal):
                outcome = "stalled"
                break
            if random() >= market.meeting_accept_prob + m.overselling * accept_lift:
                continue
            yield rep.meeting(1.0)
            deal.meetings += 1
            present = self.attendees(random)
            if random() < rep.misread_chance:
                deal.misreads += 1
            elif random() < self.favourable_chance(present):
                self.favour(present)
                self.last_progress_day = env.now
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
                    outcome = "lost"
                    break
                if not m.partnership_active:
                    outcome = "lost"
                    break
                if not self.decision_ready(deal):
                    continue
            outcome = yield from self.deciding(deal)
        self.close(deal, outcome, rep)

    def attendees(self, random) -> list[int]:
        """Who comes to a group meeting (one draw each); the decider when nobody else does."""
        attendance = self.model.params.market.attendance
        if attendance >= 1.0:
            return list(range(len(self.trust)))
        return [i for i in range(len(self.trust)) if random() < attendance] or [0]

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
        """U.S. rule: value beats price. Japanese rule: ringi through every approver."""
        m = self.model
        p = m.params
        if not m.partnership_active:
            return "lost"
        if p.mechanisms.value_check:
            lift = p.product.oversell_value_lift * p.market.oversell_credibility * m.overselling
            bond = p.market.relationship_value * (self.mean_trust() - p.market.trust_initial)
            if self.value_ratio * (1.0 + lift) * (1.0 + bond) < 1.0:
                return "lost"
        if p.market.decision_rule == "champion_buyer" or not p.mechanisms.ringi:
            return "won"
        deal.ringi_start_day = m.env.now
        self.stage = "ringi"
        approved = yield from self.circulating_ringi(deal)
        self.stage = "engaged"
        if approved is None:
            return "stalled"
        if not m.partnership_active:
            return "lost"
        return "won" if approved else "lost"

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
            if rng.random() < rep.misread_chance:
                deal.misreads += 1
            elif rng.random() < p.market.nonselling_value * self.favourable_chance((i,)):
                self.favour((i,), counted=False)
                self.last_progress_day = env.now

    def _nurture_rate_per_day(self) -> float:
        policy = self.model.params.policy
        return policy.relationship_investment * policy.nurture_contacts_per_month / rules.MONTH_DAYS

    def executive_visit(self) -> None:
        """A vendor executive meets the whole buying center: trust for each, by value."""
        p = self.model.params
        rng = self.rngs["executive_visits"]
        value = p.market.nonselling_value
        self.favour([i for i in range(self.size) if rng.random() < value], counted=False)
        self.last_progress_day = self.model.env.now

    def account_contact(self, rng) -> None:
        """Account management: a non-selling review with the customer's buying center."""
        m = self.model
        p = m.params
        m.spend("nurture", p.vendor.nurture_contact_cost_usd)
        everyone = range(self.size)
        if rng.random() < p.market.nonselling_value * self.favourable_chance(everyone):
            self.favour(everyone)

    # ---------------------------------------------------------------- account life
    def maintaining_account(self, deal: Deal):
        """Monthly commitment; yearly renewal with churn and expansion; late discovery."""
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
            invest = policy.relationship_investment if p.mechanisms.relationship else 0.0
            if rng.random() < invest:
                self.account_contact(rng)
            if month == discovery_month:
                deal.overselling_discovered = True
                self.deceive()
                leaving = rng.random() < p.market.deception_walkaway
            if month % 12:
                continue
            churn = 0.0
            if p.mechanisms.churn:
                churn = rules.churn_probability(
                    p.market.churn_base,
                    p.market.churn_trust_sensitivity,
                    self.mean_trust(),
                    self.mean_commitment(),
                    p.economy.churn_factor if m.in_downturn else 1.0,
                )
            if leaving or rng.random() < churn:
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

    # ---------------------------------------------------------------- incidents
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
