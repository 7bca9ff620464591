"""Watch one model run from outside and name every invariant it breaks.

`Watch(model)` instruments a built `PartnershipModel` without touching model code: the
stakeholders' trust, ceiling and commitment lists become lists that check each value as
it is stored; the reps' and the support desk's SimPy `users` lists check each meeting or
request as it starts; a few methods are wrapped to note when the partnership ends, when an
account churns, when a support cut holds desk servers, whether the buying center was in
consensus when it moved to decide and how each ringi circulation ended. `run()` drives the
clock event by event (checking the reseller after each event and the whole state after
each monthly sample); the stateful test calls `check_state()` and `check_records()` after
its own `model.step()` instead.

Violations are collected per invariant name (`violations[name]`) so that one test can
assert the invariants it is about and report the first few offending values.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from typing import Any

from agents import parameters, rules
from agents.client import OUTCOMES, STAGES
from sim.model import PartnershipModel
from sim.run import RunSpec

STAGE_DAYS = (
    "first_contact_day",
    "comfort_day",
    "proposal_day",
    "evaluation_day",
    "ringi_start_day",
    "decision_day",
)
OPEN_STAGES = ("engaged", "evaluation", "ringi")
REVENUE_KINDS = ("new", "renewal", "expansion")
EVENT_BUDGET = 2_000_000  # a small run that needs more has stopped advancing time

INVARIANTS = (
    "trust_bounds",  # stakeholder trust in [0, ceiling]
    "ceiling",  # a ceiling stays in [0, 1] and never rises
    "commitment_bounds",  # stakeholder and reseller commitment in [0, 1]
    "reseller_bounds",  # reseller trust in [0, its ceiling], effort share in [0, 1]
    "time_order",  # no record goes back in time; months count 1, 2, ...
    "stage_days",  # first contact <= comfort <= proposal <= evaluation <= ringi <= decision
    "japan_rule",  # consensus and a unanimous ringi before a Japanese deal is won
    "revenue",  # ledger = won deals + renewals + expansions; monthly sums agree
    "bookings",  # bookings never negative, equal to new-deal revenue
    "rep_capacity",  # a rep never starts a meeting beyond its capacity
    "desk_capacity",  # the desk never starts answering beyond its staff
    "desk_serving",  # Vendor.serving() counts the requests being answered
    "after_end",  # no deal is won after the partnership ends
    "after_churn",  # a churned account pays nothing afterwards
    "stages",  # one stage per client, consistent with its deals; counts sum to the population
    "liveness",  # the clock reaches the horizon
    "levers",  # policy levers changed mid-run take effect (stateful test)
)


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


class _Checked(list):
    """A list whose item assignments are checked by a callback (index, old, new)."""

    __slots__ = ("on_set",)

    def __init__(self, values, on_set) -> None:
        super().__init__(values)
        self.on_set = on_set

    def __setitem__(self, index, value) -> None:
        self.on_set(index, self[index], value)
        super().__setitem__(index, value)


class _Users(list):
    """A SimPy resource's `users` list that reports each request granted and released."""

    __slots__ = ("on_grant", "on_release")

    def __init__(self, values, on_grant, on_release=None) -> None:
        super().__init__(values)
        self.on_grant = on_grant
        self.on_release = on_release

    def append(self, request) -> None:
        super().append(request)
        self.on_grant(request)

    def remove(self, request) -> None:
        super().remove(request)
        if self.on_release is not None:
            self.on_release(request)


class Watch:
    """Instruments one model and collects the invariants it breaks, by name."""

    def __init__(self, model: PartnershipModel) -> None:
        self.model = model
        self.violations: dict[str, list[str]] = defaultdict(list)
        # Processes inside Vendor.answering: a desk request made by one of them is a document
        # request (SimPy records the requesting process as `request.proc`); any other desk
        # request stands for a server without staff, however the vendor implements that.
        self.asking: set = set()
        self.documents_in_service = 0
        self.desk_changed = False
        self.consensus_at_decision: dict[int, bool] = {}  # id(deal) -> all comfortable
        self.ringi_approved: dict[int, bool] = {}  # id(deal) -> last circulation approved
        self.ledger_at_end: int | None = None  # ledger length when the partnership ended
        self.ledger_at_churn: dict[int, int] = {}  # client -> ledger length at its churn
        self.ceilings_seen: dict[int, list[float]] = {}
        self.months_checked = 0
        self.events = 0
        for client in model.clients:
            self._watch_client(client)
        for rep in model.reseller.reps:
            self._watch_rep(rep)
        self._watch_vendor(model.vendor)
        self._wrap_model()

    # ---------------------------------------------------------------- recording
    def flag(self, name: str, message: str) -> None:
        assert name in INVARIANTS, name
        found = self.violations[name]
        if len(found) < 20:
            found.append(f"day {self.model.env.now:.6g}: {message}")

    def broken(self, *names: str) -> dict[str, list[str]]:
        """The violations of the named invariants (all when none named)."""
        names = names or INVARIANTS
        return {n: self.violations[n] for n in names if self.violations.get(n)}

    # ---------------------------------------------------------------- instrumentation
    def _watch_client(self, client) -> None:
        cid = client.index

        def trust_set(i, old, new):
            if not 0.0 <= new <= client.ceiling[i]:
                self.flag(
                    "trust_bounds",
                    f"client {cid} stakeholder {i}: trust {new!r} "
                    f"outside [0, ceiling {client.ceiling[i]!r}]",
                )

        def ceiling_set(i, old, new):
            if not 0.0 <= new <= 1.0:
                self.flag("ceiling", f"client {cid} stakeholder {i}: ceiling {new!r}")
            if new > old:
                self.flag("ceiling", f"client {cid} stakeholder {i}: ceiling rose {old!r}->{new!r}")

        def commitment_set(i, old, new):
            if not 0.0 <= new <= 1.0:
                self.flag("commitment_bounds", f"client {cid} stakeholder {i}: {new!r}")

        client.trust = _Checked(client.trust, trust_set)
        client.ceiling = _Checked(client.ceiling, ceiling_set)
        client.commitment = _Checked(client.commitment, commitment_set)
        self.ceilings_seen[cid] = list(client.ceiling)

        deciding, circulating = client.deciding, client.circulating_ringi

        def watched_deciding(deal):
            self.consensus_at_decision[id(deal)] = client.consensus()
            return (yield from deciding(deal))

        def watched_ringi(deal):
            approved = yield from circulating(deal)
            self.ringi_approved[id(deal)] = approved
            return approved

        client.deciding = watched_deciding
        client.circulating_ringi = watched_ringi

    def _watch_rep(self, rep) -> None:
        resource = rep.capacity

        def granted(request):
            if len(resource.users) > resource.capacity:
                self.flag(
                    "rep_capacity",
                    f"rep {rep.unique_id}: {len(resource.users)} meetings at once, "
                    f"capacity {resource.capacity}",
                )

        resource.users = _Users(resource.users, granted)

    def _watch_vendor(self, vendor) -> None:
        desk = vendor.desk
        env = self.model.env

        def granted(request):
            self.desk_changed = True
            if request.proc not in self.asking:
                return
            self.documents_in_service += 1
            if self.documents_in_service > vendor.staff:
                self.flag(
                    "desk_capacity",
                    f"desk starts a request with {self.documents_in_service} in service and "
                    f"{vendor.staff} staff",
                )

        def released(request):
            self.desk_changed = True
            if request.proc in self.asking:
                self.documents_in_service -= 1

        desk.users = _Users(desk.users, granted, released)
        answering, cut_support = vendor.answering, vendor.cut_support

        def watched_answering(client, deal):
            process = env.active_process
            self.asking.add(process)
            try:
                return (yield from answering(client, deal))
            finally:
                self.asking.discard(process)

        def watched_cut_support():
            self._check_patience("cut support")
            cut_support()

        vendor.answering = watched_answering
        vendor.cut_support = watched_cut_support

    def _check_patience(self, what: str) -> None:
        """The vendor acts on a shortfall only after the patience of the policy in force."""
        model = self.model
        patience = model.params.policy.patience_months
        months = model.env.now / rules.MONTH_DAYS
        if months + 1e-6 < patience:
            self.flag("levers", f"the vendor {what} in month {months:.2f}, patience {patience}")

    def check_levers(self) -> None:
        """The desk's staff and turnaround follow the policy in force until a support cut.

        A smaller staff takes effect as the answers in progress end: until then the desk may
        keep as many servers as it has requests in service.
        """
        vendor = self.model.vendor
        policy = self.model.params.policy
        if vendor.support_cut:
            return
        wanted = policy.support_staff
        # desk_response hires above the policy's staff when answers wait too long
        most = self.model.params.vendor.desk_max_staff if policy.desk_response else wanted
        if not wanted <= vendor.staff <= max(most, wanted, self.documents_in_service):
            self.flag(
                "levers",
                f"desk staff {vendor.staff} under a policy of {wanted} "
                f"({self.documents_in_service} requests in service)",
            )
        if vendor.turnaround_days != policy.turnaround_days:
            self.flag(
                "levers",
                f"desk turnaround {vendor.turnaround_days!r} days under a policy of "
                f"{policy.turnaround_days!r}",
            )

    def serving_now(self) -> int:
        """Document requests the desk is answering now (counted by the watch, not the model)."""
        return self.documents_in_service

    def _wrap_model(self) -> None:
        model = self.model
        terminate, churned = model.terminate, model.churned

        def watched_terminate(by):
            if by == "vendor":  # the partner's patience is its own
                self._check_patience("ended the partnership")
            elif by != "partner":
                self.flag("after_end", f"the partnership ended by {by!r}")
            if self.ledger_at_end is None and model.partnership_active:
                self.ledger_at_end = len(model.recorder.ledger)
            terminate(by)

        def watched_churned(client):
            churned(client)
            self.ledger_at_churn.setdefault(client.index, len(model.recorder.ledger))

        model.terminate = watched_terminate
        model.churned = watched_churned

    # ---------------------------------------------------------------- driving
    def run(self, until_day: float | None = None, max_events: int = EVENT_BUDGET) -> Watch:
        """Drive the clock event by event to `until_day` (the horizon by default), checking.

        More than `max_events` events without getting there breaks "liveness".
        """
        model = self.model
        env = model.env
        until = (model.horizon_days if until_day is None else until_day) + 1e-9
        last = env.now
        months = len(model.recorder.monthly)
        budget = self.events + max_events
        while env.peek() < until:
            env.step()
            self.events += 1
            if env.now < last:
                self.flag("time_order", f"clock went back from {last!r} to {env.now!r}")
            last = env.now
            self.check_event()
            if len(model.recorder.monthly) != months:
                months = len(model.recorder.monthly)
                self.check_state()
            if self.events >= budget:
                self.flag("liveness", f"{max_events} events: day {env.now:.6g}, not {until:.6g}")
                break
        if until_day is None and self.events < budget:
            model.running = False
        return self

    # ---------------------------------------------------------------- checks
    def check_event(self) -> None:
        """Cheap checks after every event: the reseller and the support desk."""
        r = self.model.reseller
        if not 0.0 <= r.trust <= r.ceiling <= 1.0:
            self.flag("reseller_bounds", f"reseller trust {r.trust!r}, ceiling {r.ceiling!r}")
        if not 0.0 <= r.commitment <= 1.0:
            self.flag("commitment_bounds", f"reseller commitment {r.commitment!r}")
        if not 0.0 <= r.effort <= 1.0:
            self.flag("reseller_bounds", f"effort share {r.effort!r}")
        if self.desk_changed:
            self.check_desk()

    def check_desk(self) -> None:
        """Vendor.serving() agrees with the document requests the watch sees in service."""
        self.desk_changed = False
        vendor = self.model.vendor
        if vendor.serving() != self.documents_in_service:
            self.flag(
                "desk_serving",
                f"Vendor.serving() = {vendor.serving()} while {self.documents_in_service} "
                f"requests are answered (staff {vendor.staff}, {len(vendor.desk.queue)} queued)",
            )

    def check_state(self) -> None:
        """Every stakeholder's values and every client's stage, at one instant."""
        self.check_event()
        self.check_desk()
        model = self.model
        open_deals: dict[int, int] = defaultdict(int)
        last_deal: dict[int, Any] = {}
        for deal in model.recorder.deals:
            last_deal[deal.client] = deal
            if deal.outcome == "open":
                open_deals[deal.client] += 1
            if deal.outcome not in OUTCOMES:
                self.flag("stages", f"client {deal.client}: deal outcome {deal.outcome!r}")
        churned = {client for _, client in model.recorder.churns}
        for client in model.clients:
            cid = client.index
            seen = self.ceilings_seen[cid]
            for i, (t, c) in enumerate(zip(client.trust, client.ceiling, strict=True)):
                if not 0.0 <= t <= c:
                    self.flag("trust_bounds", f"client {cid} stakeholder {i}: {t!r} > {c!r}")
                if not 0.0 <= c <= seen[i]:
                    self.flag("ceiling", f"client {cid} stakeholder {i}: {seen[i]!r} -> {c!r}")
            self.ceilings_seen[cid] = list(client.ceiling)
            for i, value in enumerate(client.commitment):
                if not 0.0 <= value <= 1.0:
                    self.flag("commitment_bounds", f"client {cid} stakeholder {i}: {value!r}")
            self._check_stage(client, open_deals[cid], last_deal.get(cid), cid in churned)
        counts = model.stage_counts()
        if sum(counts.values()) != len(model.clients) or set(counts) != set(STAGES):
            self.flag("stages", f"stage counts {counts} for {len(model.clients)} clients")
        self.months_checked += 1

    def _check_stage(self, client, n_open: int, last, churned: bool) -> None:
        stage = client.stage_now()
        cid = client.index
        expected: tuple[str, ...]
        if n_open > 1:
            self.flag("stages", f"client {cid} has {n_open} open deals")
        if churned:
            expected = ("churned",)
        elif n_open:
            expected = OPEN_STAGES
        elif last is not None and last.outcome == "won":
            expected = ("customer",)
        elif last is not None:
            expected = ("lost", "prospect")
        else:
            expected = ("prospect",)
        if stage not in expected:
            outcome = None if last is None else last.outcome
            self.flag(
                "stages",
                f"client {cid} in stage {stage!r} with {n_open} open deal(s), last outcome "
                f"{outcome!r}, churned {churned}: expected one of {expected}",
            )
        if (client.deal is not None) != (n_open == 1):
            self.flag("stages", f"client {cid}: current deal {client.deal!r}, {n_open} open")

    def check_records(self) -> None:
        """The records so far: time order, stage days, money, the end and churns, Japan."""
        self._check_time_order()
        self._check_stage_days()
        self._check_money()
        self._check_after_end_and_churn()
        self._check_japan_rule()

    def _check_time_order(self) -> None:
        rec = self.model.recorder
        series = {
            "deals (first contact)": [d.first_contact_day for d in rec.deals],
            "ledger": [row[0] for row in rec.ledger],
            "costs": [row[0] for row in rec.costs],
            "churns": [row[0] for row in rec.churns],
            "monthly": [row["day"] for row in rec.monthly],
        }
        for name, days in series.items():
            for i in range(1, len(days)):
                if days[i] < days[i - 1]:
                    self.flag("time_order", f"{name}[{i}] day {days[i]!r} < {days[i - 1]!r}")
                    break
            if any(day > self.model.env.now for day in days):
                self.flag("time_order", f"{name} has a day after the clock {self.model.env.now}")
        months = [row["month"] for row in rec.monthly]
        if months != list(range(1, len(months) + 1)):
            self.flag("time_order", f"monthly months {months[:5]}... not 1, 2, ...")
        for row in rec.monthly:
            if not close(row["day"], row["month"] * rules.MONTH_DAYS):
                self.flag("time_order", f"month {row['month']} sampled on day {row['day']!r}")
                break

    def _check_stage_days(self) -> None:
        for deal in self.model.recorder.deals:
            days = [(name, getattr(deal, name)) for name in STAGE_DAYS]
            present = [(name, day) for name, day in days if day is not None]
            for (a, day_a), (b, day_b) in itertools.pairwise(present):
                if day_b < day_a:
                    self.flag("stage_days", f"client {deal.client}: {b} {day_b!r} < {a} {day_a!r}")
            if deal.outcome == "open" and deal.decision_day is not None:
                self.flag("stage_days", f"client {deal.client}: open deal with a decision day")
            if deal.outcome != "open" and deal.decision_day is None:
                self.flag("stage_days", f"client {deal.client}: {deal.outcome} without a day")

    def _check_money(self) -> None:
        model = self.model
        rec = model.recorder
        accounts: dict[int, float] = {}
        new_entries = []
        for day, client, kind, amount in rec.ledger:
            if kind not in REVENUE_KINDS:
                self.flag("revenue", f"ledger kind {kind!r}")
                continue
            if not (math.isfinite(amount) and amount >= 0.0):
                self.flag("revenue", f"client {client}: {kind} of {amount!r} on day {day!r}")
            if kind == "new":
                new_entries.append((client, day, amount))
                accounts[client] = amount
            elif client not in accounts:
                self.flag("revenue", f"client {client}: {kind} on day {day!r} before any deal")
            elif kind == "renewal":
                if not close(amount, accounts[client]):
                    self.flag(
                        "revenue",
                        f"client {client}: renewal {amount!r} != account {accounts[client]!r}",
                    )
            else:
                accounts[client] += amount
        won = [(d.client, d.decision_day, d.value_usd) for d in rec.deals if d.outcome == "won"]
        if sorted(won) != sorted(new_entries):
            self.flag("revenue", f"won deals {sorted(won)[:3]} != new revenue {new_entries[:3]}")
        total = sum(row[3] for row in rec.ledger)
        if not close(total, model.revenue_usd):
            self.flag("revenue", f"ledger total {total!r} != model revenue {model.revenue_usd!r}")
        new_total = sum(amount for _, _, amount in new_entries)
        if not close(new_total, model.bookings_usd):
            self.flag("bookings", f"new revenue {new_total!r} != bookings {model.bookings_usd!r}")
        cumulative = 0.0
        for row in rec.monthly:
            parts = (
                row["revenue_new_usd"] + row["revenue_renewal_usd"] + row["revenue_expansion_usd"]
            )
            if not close(row["revenue_usd"], parts):
                self.flag(
                    "revenue",
                    f"month {row['month']}: revenue {row['revenue_usd']!r} "
                    f"!= new + renewal + expansion {parts!r}",
                )
            cumulative += row["revenue_usd"]
            if not close(row["cumulative_revenue_usd"], cumulative):
                self.flag(
                    "revenue",
                    f"month {row['month']}: cumulative "
                    f"{row['cumulative_revenue_usd']!r} != sum {cumulative!r}",
                )
            if row["bookings_usd"] < 0.0:
                self.flag("bookings", f"month {row['month']}: bookings {row['bookings_usd']!r}")
            if not close(row["bookings_usd"], row["revenue_new_usd"]):
                self.flag(
                    "bookings",
                    f"month {row['month']}: bookings {row['bookings_usd']!r} "
                    f"!= new-deal revenue {row['revenue_new_usd']!r}",
                )

    def _check_after_end_and_churn(self) -> None:
        model = self.model
        rec = model.recorder
        if self.ledger_at_end is not None:
            abandoned = model.params.policy.after_exit == "abandon"
            for day, client, kind, amount in rec.ledger[self.ledger_at_end :]:
                if kind == "new" or abandoned:  # abandoned accounts never pay again
                    self.flag(
                        "after_end",
                        f"client {client} won {amount:.0f} USD on day {day!r}, the partnership "
                        f"having ended on day {model.terminated_day!r}",
                    )
        for client, start in self.ledger_at_churn.items():
            for day, payer, kind, amount in rec.ledger[start:]:
                if payer == client:
                    self.flag(
                        "after_churn",
                        f"client {client} paid {kind} {amount!r} on day {day!r} after churning",
                    )
        churns = [client for _, client in rec.churns]
        if len(churns) != len(set(churns)) or len(churns) != model.churned_accounts:
            self.flag("after_churn", f"churn records {churns} vs {model.churned_accounts} churned")

    def _check_japan_rule(self) -> None:
        p = self.model.params
        if p.market.decision_rule != "consensus_ringi":
            return
        for deal in self.model.recorder.deals:
            if deal.outcome != "won":
                continue
            key = id(deal)
            if not self.consensus_at_decision.get(key, False) or deal.comfort_day is None:
                self.flag("japan_rule", f"client {deal.client} won without consensus")
            if p.mechanisms.ringi and (
                deal.ringi_start_day is None or not self.ringi_approved.get(key, False)
            ):
                self.flag("japan_rule", f"client {deal.client} won without a unanimous ringi")


def build(spec: RunSpec) -> PartnershipModel:
    """The model of a spec, as `sim.run.run_model` builds it, not yet run."""
    return PartnershipModel(params=spec.params, years=spec.years, seed=spec.root_seed())


def observe(spec: RunSpec) -> Watch:
    """Build, instrument and run a spec to its horizon; check its records at the end."""
    watch = Watch(build(spec)).run()
    watch.check_state()
    watch.check_records()
    return watch


class InvariantBroken(AssertionError):
    """An invariant of a run does not hold; one subclass per invariant name."""


# Hypothesis tells failures apart by exception type and place: one type per invariant
# keeps two different broken invariants of one test two different failures.
BROKEN = {name: type(f"Broken_{name}", (InvariantBroken,), {}) for name in INVARIANTS}


def report(broken: dict[str, list[str]]) -> str:
    return "\n".join(f"{name}: " + "\n    ".join(found[:5]) for name, found in broken.items())


def assert_holds(watch: Watch, *invariants: str) -> None:
    """Raise `Broken_<name>` for the first of the named invariants the watch saw broken."""
    broken = watch.broken(*invariants)
    if broken:
        raise BROKEN[next(iter(broken))](report(broken))


def spec_of(
    market: str,
    preset: str,
    overrides: dict[str, Any],
    years: float,
    seed: int = 0,
    replication: int = 0,
) -> RunSpec:
    """A spec from a shipped profile, a preset and dotted overrides (to pin `@example`s)."""
    return RunSpec(
        params=parameters.build(market, preset, overrides),
        years=years,
        seed=seed,
        replication=replication,
    )


def describe(spec: RunSpec) -> str:
    """The `spec_of(...)` call that rebuilds a drawn spec: only what differs is spelled out."""
    p = spec.params
    base = parameters.flatten(parameters.build(p.market.name, p.policy.name))
    changed = {k: v for k, v in parameters.flatten(p).items() if base[k] != v}
    return (
        f"spec_of({p.market.name!r}, {p.policy.name!r}, {changed!r}, years={spec.years!r}, "
        f"seed={spec.seed!r}, replication={spec.replication!r})"
    )
