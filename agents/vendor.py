"""Vendor: the U.S. company's support desk, reviews, relationship investment and money.

The support desk is a SimPy Resource with `support_staff` servers answering document
requests FIFO with exponential service times; its staff follows the policy in force.
Reviews compare what the vendor sees, bookings plus a share of its pipeline forecast (which
the partner's misread reports inflate), with the pro-rated target; after the patience period a
shortfall cuts support, a second one ends the partnership. The desk can grow with its backlog
(`policy.desk_response`). The vendor pays the market's fixed yearly cost while it is in.
Processes: `reviewing`, `visiting` (executive visits), `enabling` (monthly co-selling,
partner enablement and fixed costs).
"""

from __future__ import annotations

import mesa

from agents import rules

FORECAST_STAGE_WEIGHTS = {"engaged": 0.1, "evaluation": 0.4, "ringi": 0.7}  # of a deal's value
MISREAD_FORECAST_SHARE = 0.1  # of a deal's value, per misread signal, in the forecast


class Vendor(mesa.Agent):
    """The U.S. software vendor."""

    def __init__(self, model, rngs, desk) -> None:
        super().__init__(model)
        policy = model.params.policy
        self.rngs = rngs
        self.turnaround_days = policy.turnaround_days
        self.desk = desk  # a Resource of policy.support_staff servers, made by the model
        self.support_cut = False
        self.forecast_usd = 0.0
        self.answers_this_month = 0
        self.fast_answers_this_month = 0
        self.month_waits_days: list[float] = []  # answers' waits this month, for the observer
        self.month_withdrawn = 0  # requests withdrawn this month

    # ---------------------------------------------------------------- support desk
    def answering(self, client, deal):
        """A document request: queue at the desk, wait for the answer; a slow one is a violation.

        Returns whether the answer came. Waiting in line for the vendor is no progress: when
        the opportunity's stall limit passes with no progress meanwhile (nurturing contacts
        can still make some), the request is withdrawn and the opportunity stalls, with the
        slow answer's violation, freeing its place in the rep's pipeline.
        """
        m = self.model
        env, tp = m.env, m.params.trust
        deal.documents += 1
        asked = env.now
        with self.desk.request() as slot:
            while not slot.triggered:  # every server is busy: wait in line
                patience_days = client.stall_left_days(deal)
                if patience_days is None:
                    yield slot
                    break
                progress_day = client.last_progress_day
                yield slot | env.timeout(max(patience_days, 0.0))
                if not slot.triggered and client.last_progress_day == progress_day:
                    client.violate_all(tp.slow_answer_severity)
                    self.month_withdrawn += 1
                    return False
            mean = self.turnaround_days * m.followup
            if mean > 0:
                yield env.timeout(self.rngs["documents"].exponential(mean))
        waited = env.now - asked
        self.month_waits_days.append(waited)
        self.answers_this_month += 1
        if waited > tp.slow_answer_days:
            client.violate_all(tp.slow_answer_severity)
        else:
            self.fast_answers_this_month += 1
            client.last_progress_day = env.now
        return True

    def desk_month(self) -> dict[str, float | int | None]:
        """The desk this month, for the observer: requests in line now, the mean wait of the
        month's answers (None without answers) and the requests withdrawn; then resets."""
        waits = self.month_waits_days
        row = {
            "desk_queue": len(self.desk.queue),
            "desk_wait_mean_days": sum(waits) / len(waits) if waits else None,
            "desk_withdrawn": self.month_withdrawn,
        }
        self.month_waits_days = []
        self.month_withdrawn = 0
        return row

    @property
    def staff(self) -> int:
        """Servers staffed now: a cut takes effect as each answer in progress ends."""
        return self.desk.capacity

    def serving(self) -> int:
        """Document requests being answered now."""
        return self.desk.count

    def set_staff(self, staff: int) -> None:
        """Staff the desk with `staff` servers."""
        self.desk.resize(staff)

    def fast_answer_share(self) -> float:
        """Share of last month's answers that were fast (0 when there were none); resets."""
        share = (
            self.fast_answers_this_month / self.answers_this_month if self.answers_this_month else 0
        )
        self.answers_this_month = self.fast_answers_this_month = 0
        return share

    def respond_to_backlog(self) -> None:
        """Hire one desk server when the month's median wait passed the turnaround target."""
        p = self.model.params
        waits = sorted(self.month_waits_days)
        if not waits or self.staff >= p.vendor.desk_max_staff:
            return
        if waits[len(waits) // 2] > p.policy.turnaround_days:
            self.set_staff(self.staff + 1)

    def cut_support(self) -> None:
        """Halve the desk (its freed servers are held for good) and slow its answers."""
        m = self.model
        keep = max(1, round(m.params.policy.support_staff * m.params.vendor.support_cut_factor))
        self.set_staff(keep)
        self.turnaround_days = 2.0 * m.params.policy.turnaround_days
        self.support_cut = True
        m.reseller.violate(m.params.trust.support_cut_severity)
        m.reseller.scar(m.params.trust.support_cut_scar)

    # ---------------------------------------------------------------- reviews
    def reviewing(self):
        """Every review_months: pressure when below target; cut or exit after patience.

        The process wakes at each month's end, on the same clock readings as the monthly
        observer: a review is decided before that month's sample, never a few ulps after.
        """
        m = self.model
        env = m.env
        months = months_since_review = 0
        while m.partnership_active:
            yield env.timeout(rules.MONTH_DAYS)
            months += 1
            months_since_review += 1
            p = m.params  # the policy in force this month, its cadence included
            if months_since_review < p.policy.review_months:
                continue
            months_since_review = 0
            target = p.policy.target_per_rep_usd * p.partner.reps * months / 12.0
            self.update_forecast()
            seen = rules.seen_bookings(m.bookings_usd, self.forecast_usd, p.policy.forecast_weight)
            gap = rules.shortfall(seen, target)
            if gap > 0:
                pressure = p.market.partner_sensitivity * gap
                m.reseller.violate(p.trust.pressure_severity * pressure)
                m.reseller.scar(p.trust.pressure_scar * pressure)
            if months < p.policy.patience_months:
                continue
            if seen >= p.policy.exit_threshold * target:
                continue
            if self.support_cut:
                m.terminate(by="vendor")
                return
            self.cut_support()

    def update_forecast(self) -> None:
        """Open pipeline weighted by stage, inflated by misread 'we will consider it' reports.

        Each of the partner's reports misread by the vendor reads as a step towards yes (a
        tenth of the deal's value), up to the whole value; the inflation ends with the deal.
        """
        m = self.model
        weights = FORECAST_STAGE_WEIGHTS
        self.forecast_usd = sum(
            min(1.0, weights.get(c.stage, 0.0) + MISREAD_FORECAST_SHARE * c.deal.forecast_misreads)
            * c.deal_value_usd
            for c in m.clients
            if c.deal is not None
        )

    # ---------------------------------------------------------------- relationship
    def visiting(self):
        """Executive visits: the reseller and one open opportunity's buying center."""
        m = self.model
        env = m.env
        rng = self.rngs["visits"]
        while m.partnership_active:
            p = m.params  # the policy may change mid-run: the next visit follows it
            rate_per_day = p.policy.relationship_investment * p.policy.exec_visits_per_year / 365.0
            if rate_per_day <= 0:
                yield env.timeout(rules.MONTH_DAYS)
                continue
            yield env.timeout(rng.exponential(1.0 / rate_per_day))
            if not m.partnership_active:
                return
            m.spend("executive_visit", p.vendor.exec_visit_cost_usd)
            m.reseller.favour()
            open_clients = [c for c in m.clients if c.deal is not None]
            if open_clients:
                open_clients[int(rng.integers(len(open_clients)))].executive_visit()

    def enabling(self):
        """Monthly: support staff and enablement costs; co-selling raises skill and trust."""
        m = self.model
        env = m.env
        rng = self.rngs["enablement"]
        while m.partnership_active:
            yield env.timeout(rules.MONTH_DAYS)
            if not m.partnership_active:
                return
            p = m.params  # the policy in force this month
            invest = p.policy.relationship_investment if p.mechanisms.relationship else 0.0
            if p.policy.desk_response and not self.support_cut:
                self.respond_to_backlog()
            m.spend("support_staff", self.staff * p.vendor.staff_cost_usd_per_year / 12.0)
            if p.market.country_cost_usd_per_year > 0:
                m.spend("country", p.market.country_cost_usd_per_year / 12.0)
            if invest <= 0:
                continue
            m.spend("enablement", invest * p.vendor.enablement_usd_per_year / 12.0)
            gain = invest * p.partner.enablement_per_year / 12.0
            for rep in m.reseller.reps:
                rep.learn(gain)
            if rng.random() < invest:
                m.reseller.favour()
