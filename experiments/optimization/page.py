"""The optimization's page, DIR/optimization.html (and DIR/charts/): what was searched, each
objective by trial, the Pareto front (several objectives), and the chosen policy's outcomes
against the presets on the same fresh replications.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from experiments.optimization import outcomes
from experiments.optimization.output import shown
from experiments.optimization.problem import Problem
from experiments.report.standalone import Figure, Text, table_html, write_page


def _format(share: bool) -> str:
    from experiments import charts

    return charts.SHARE if share else charts.MONEY


def trial_status(trials: pl.DataFrame) -> pl.Expr:
    return (
        pl.when(pl.col("chosen"))
        .then(pl.lit("chosen"))
        .when(pl.col("feasible"))
        .then(pl.lit("feasible"))
        .otherwise(pl.lit("infeasible"))
        .alias("status")
    )


def trials_figures(problem: Problem, trials: pl.DataFrame) -> list[Figure]:
    from experiments.charts.decisions import front_chart, trials_chart

    done = trials.filter(pl.col("state") == "complete").with_columns(trial_status(trials))
    figures = []
    for o in problem.objectives:
        sign = 1.0 if o.direction == "maximize" else -1.0
        best, rows = None, []
        for r in done.iter_rows(named=True):
            if r["feasible"] and (best is None or sign * r[o.label] > sign * best):
                best = r[o.label]
            rows.append(
                {"trial": r["trial"], "value": r[o.label], "status": r["status"], "best": best}
            )
        frame = pl.DataFrame(
            rows, schema={"trial": pl.Int64, "value": pl.Float64, "status": pl.String,
                          "best": pl.Float64}, orient="row" if not rows else None,
        ).with_columns(panel=pl.lit(f"{o.direction} {o.label}"))  # fmt: skip
        feasible = int(done["feasible"].sum()) if done.height else 0
        caption = (
            f"{done.height} trials completed, {feasible} feasible (every constraint holds on its "
            f"one-sided {problem.confidence:.0%} bound); the best feasible {o.label} on the "
            f"search's replications is {shown(best, o.outcome.share)}."
        )
        chart = trials_chart(
            frame,
            title=f"{o.label} by trial",
            y_title=o.label,
            y_format=_format(o.outcome.share),
            subtitle=f"mean over {problem.replications} replications (seed {problem.seed})",
        )
        figures.append(Figure(f"trials-{_slug(o.label)}", f"{o.label} by trial", caption, chart))
    if len(problem.objectives) >= 2:
        x, y = problem.objectives[0], problem.objectives[1]
        front = set(_front_trials(problem, done))
        frame = done.select(
            "trial",
            pl.col(x.label).alias("x"),
            pl.col(y.label).alias("y"),
            "status",
            pl.col("trial").is_in(list(front)).alias("front"),
        ).with_columns(panel=pl.lit(f"{x.label} and {y.label}"))
        caption = (
            f"{len(front)} feasible trials are on the Pareto front of {x.label} "
            f"({x.direction}) and {y.label} ({y.direction})."
        )
        chart = front_chart(
            frame,
            title="The Pareto front",
            x_title=x.label,
            y_title=y.label,
            x_format=_format(x.outcome.share),
            y_format=_format(y.outcome.share),
        )
        figures.append(Figure("front", "The Pareto front", caption, chart))
    return figures


def _front_trials(problem: Problem, done: pl.DataFrame) -> list[int]:
    from experiments.optimization.search import front

    feasible = done.filter(pl.col("feasible"))
    labels = [o.label for o in problem.objectives]
    points = [(r["trial"], tuple(r[c] for c in labels)) for r in feasible.iter_rows(named=True)]
    return front(problem, points)


def outcome_figures(problem: Problem, table: pl.DataFrame) -> list[Figure]:
    """The chosen policy, the other finalists and the presets on the same fresh runs."""
    from experiments.charts import distribution_chart
    from experiments.charts.decisions import share_chart

    order = list(dict.fromkeys(table["policy"]))
    used = [o.outcome for o in problem.objectives] + [c.outcome for c in problem.constraints]
    limits = {c.outcome.label: c for c in problem.constraints}
    figures = []
    for outcome in dict.fromkeys(used):
        rows = []
        for label in order:
            group = table.filter(pl.col("policy") == label)
            frame = outcomes.frame_of({outcome.column: group[outcome.column].to_list()})
            x = outcomes.run_values(frame, outcome)
            x = x[np.isfinite(x)]
            rows.append((label, x))
        title = f"{outcome.label}: the chosen policy against the presets"
        subtitle = (
            f"{problem.market}, {problem.replications} fresh replications (seed "
            f"{problem.check_seed}), the same for every policy"
        )
        if outcome.share:
            frame = pl.DataFrame(
                [_share_row(label, x) for label, x in rows],
                schema={"series": pl.String, "share": pl.Float64, "lo": pl.Float64,
                        "hi": pl.Float64, "n": pl.Int64}, orient="row",
            ).with_columns(panel=pl.lit(problem.market))  # fmt: skip
            c = limits.get(outcome.label)
            chart = share_chart(
                frame,
                title=title,
                x_title=f"share of runs: {outcome.label}",
                limit=c.limit if c else None,
                limit_label=f"limit {c.limit:.0%}" if c else "",
                series_order=order,
                subtitle=[subtitle, "dot: share; line: 95% Clopper-Pearson interval"],
            )
            best = frame.row(0, named=True)
            caption = (
                f"{best['series']}: {best['share']:.1%} of runs (95% interval "
                f"{best['lo']:.1%} to {best['hi']:.1%})"
                + (f"; the limit is {c.limit:.0%} on the one-sided bound." if c else ".")
            )
        else:
            frame = pl.DataFrame(
                [_quantile_row(label, x) for label, x in rows],
                schema={"series": pl.String, "p05": pl.Float64, "q1": pl.Float64,
                        "median": pl.Float64, "q3": pl.Float64, "p95": pl.Float64,
                        "mean": pl.Float64, "n": pl.Int64}, orient="row",
            ).with_columns(market=pl.lit(problem.market))  # fmt: skip
            chart = distribution_chart(
                frame,
                title=title,
                x_title=outcome.label,
                x_format=_format(False),
                subtitle=subtitle,
                series_order=order,
                series_title="policy",
                n_title="runs",
            )
            means = {r["series"]: r["mean"] for r in frame.iter_rows(named=True)}
            top = max((m for m in means.values() if m is not None), default=None)
            leader = next((k for k, v in means.items() if v == top), None)
            caption = (
                f"Mean {outcome.label}: "
                + ", ".join(f"{k} {shown(v, False)}" for k, v in means.items())
                + (f"; highest: {leader}." if leader else ".")
            )
        figures.append(Figure(f"outcome-{_slug(outcome.label)}", title, caption, chart))
    return figures


def _share_row(label: str, x: np.ndarray) -> tuple:
    n, k = int(x.size), int(x.sum())
    if not n:
        return (label, None, None, None, 0)
    lo = outcomes.clopper_pearson(k, n, 0.975, "min")
    hi = outcomes.clopper_pearson(k, n, 0.975, "max")
    return (label, k / n, lo, hi, n)


def _quantile_row(label: str, x: np.ndarray) -> tuple:
    if not x.size:
        return (label, None, None, None, None, None, None, 0)
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return (label, *map(float, q), float(x.mean()), int(x.size))


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-")


def problem_html(problem: Problem) -> str:
    levers = []
    for lever in problem.levers:
        if lever.choices is not None:
            space = " | ".join(map(str, lever.choices))
        else:
            space = f"[{lever.low}, {lever.high}]" + (f" step {lever.step}" if lever.step else "")
            space += " (log)" if lever.log else ""
        levers.append(f"<li><code>{html.escape(lever.key)}</code>: {html.escape(space)}</li>")
    objectives = "".join(
        f"<li>{o.direction} {html.escape(o.label)}</li>" for o in problem.objectives
    )
    constraints = (
        "".join(
            f"<li>{html.escape(c.label)} on the one-sided {problem.confidence:.0%} bound</li>"
            for c in problem.constraints
        )
        or "<li>none</li>"
    )
    return (
        f"<p>{html.escape(problem.market)} from <code>{html.escape(problem.policy)}</code>, "
        f"{problem.years:g} years, {problem.replications} replications per trial (seed "
        f"{problem.seed}); finalists re-run on fresh replications (seed {problem.check_seed})."
        f"</p><p>Levers:</p><ul>{''.join(levers)}</ul><p>Objectives:</p><ul>{objectives}</ul>"
        f"<p>Constraints:</p><ul>{constraints}</ul>"
    )


def write(
    root: Path,
    problem: Problem,
    trials: pl.DataFrame,
    table: pl.DataFrame,
    summary_text: str,
    chosen: dict[str, Any],
    images: bool,
) -> Path:
    chosen_rows = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(repr(v))}</td></tr>"
        for k, v in chosen.items()
    )
    blocks: list[Any] = [
        Text("The problem", problem_html(problem)),
        Text(
            "The chosen policy",
            f"<div class=table-wrap><table>{chosen_rows}</table></div>"
            "<p>written as <code>policy.toml</code>: <code>partnersim simulate --policy "
            'FILE</code>, or <code>base.policy = "FILE"</code> in an experiment.</p>',
        ),
        Text("On fresh replications", f"<pre>{html.escape(summary_text)}</pre>"),
        *trials_figures(problem, trials),
        *outcome_figures(problem, table),
        Text("Trials", table_html(trials.drop("error").sort("trial"))),
    ]
    lead = (
        f"{trials.height} trials of {problem.replications} runs each; "
        f"{int(trials['feasible'].fill_null(False).sum())} feasible."
    )
    return write_page(
        root, "optimization", f"partnersim optimize: {problem.name}", lead, blocks, images
    )
