"""Economy: downturns arrive as a Poisson process and cut client budgets while they last.

Process: `downturns` (sets the model's downturn flag on and off).
"""

from __future__ import annotations

import mesa

from agents import rules


class Economy(mesa.Agent):
    """The market's business cycle."""

    def __init__(self, model, rng) -> None:
        super().__init__(model)
        self.draws = rng
        self.in_downturn = False

    def downturns(self):
        m = self.model
        p = m.params.economy
        if p.downturns_per_year <= 0:
            return
        mean_gap_days = rules.YEAR_DAYS / p.downturns_per_year
        while True:
            yield m.env.timeout(self.draws.exponential(mean_gap_days))
            months = self.draws.uniform(p.downturn_min_months, p.downturn_max_months)
            self.in_downturn = True
            m.reseller.effort = m.reseller.effort_now()
            yield m.env.timeout(months * rules.MONTH_DAYS)
            self.in_downturn = False
            m.reseller.effort = m.reseller.effort_now()
