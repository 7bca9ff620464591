"""Deal: one opportunity's record, the outcomes an opportunity can end in and the stages a
client goes through. Plain data: the recorder turns the records into the deals table."""

from __future__ import annotations

STAGES = ("prospect", "engaged", "evaluation", "ringi", "customer", "churned", "lost")
OUTCOMES = ("won", "lost_competitor", "no_decision", "stalled", "open")

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
    "warm",
    "blockers",
    "forecast_misreads",
)


class Deal:
    """One opportunity's record; appended to the recorder when the opportunity opens."""

    __slots__ = DEAL_FIELDS

    def __init__(
        self, client: int, market: str, stakeholders: int, rep: int, day: float, warm: bool
    ) -> None:
        self.client, self.market, self.stakeholders, self.rep = client, market, stakeholders, rep
        self.warm = warm
        self.blockers = self.forecast_misreads = 0
        self.first_contact_day = day
        self.pitch_day = self.comfort_day = self.proposal_day = None
        self.evaluation_day = self.ringi_start_day = self.decision_day = None
        self.outcome = "open"
        self.value_usd = 0.0
        self.meetings = self.nurture_contacts = self.documents = self.misreads = 0
        self.ringi_rounds = self.incidents = 0
        self.overselling_discovered = False
