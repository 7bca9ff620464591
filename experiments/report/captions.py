"""Captions: one sentence per figure, stating the numbers the chart shows.

Each function takes the frames its figure is drawn from (and the runs, where a caption
needs a number the chart does not plot, such as a ratio's bootstrap interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from experiments.report.aggregates import TOTAL_REVENUE, Y1_PER_REP, Outcome, outcomes
from experiments.report.formatting import (
    money,
    month,
    number,
    ratio_text,
    share,
    telling,
    times,
)
from experiments.report.layout import Layout, focus_market, short
from experiments.report.statistics import ratio_interval


def _groups(runs: pl.DataFrame, market: str | None) -> pl.DataFrame:
    runs = runs if market is None else runs.filter(pl.col("market") == market)
    return runs.group_by("series", maintain_order=True).agg(
        pl.col(TOTAL_REVENUE).mean().alias("mean"), pl.len().alias("n")
    )


def _revenue_ratio(runs: pl.DataFrame, top: str, low: str):
    """Mean revenue of series `top` over `low`, paired by replication when every run pairs."""
    a = runs.filter(pl.col("series") == top)
    b = runs.filter(pl.col("series") == low)
    keys = ["replication", "seed_entropy"]
    paired = False
    if a.height == b.height and a.select(keys).n_unique() == a.height:
        joined = (
            a.select(*keys, TOTAL_REVENUE)
            .join(b.select(*keys, TOTAL_REVENUE), on=keys, suffix="_b")
            .sort(keys)
        )
        paired = joined.height == a.height
    if paired:
        va, vb = joined[TOTAL_REVENUE].to_numpy(), joined[f"{TOTAL_REVENUE}_b"].to_numpy()
    else:
        va, vb = a[TOTAL_REVENUE].to_numpy(), b[TOTAL_REVENUE].to_numpy()
    ratio, lo, hi = ratio_interval(va, vb, paired=paired)
    return ratio, lo, hi, paired


def revenue_caption(runs: pl.DataFrame, layout: Layout) -> str:
    market = focus_market(layout)
    groups = _groups(runs, market).sort("mean", descending=True)
    where = f"In {market}, " if market else ""
    top = groups.row(0, named=True)
    if groups.height == 1:
        return (
            f"{where}{top['series']} earns a mean {layout.horizon} revenue of "
            f"{money(top['mean'])} over {top['n']} runs."
        )
    low = groups.row(groups.height - 1, named=True)
    sub = runs.filter(pl.col("market") == market) if market else runs
    ratio, rlo, rhi, paired = _revenue_ratio(sub, top["series"], low["series"])
    how = "paired replications" if paired else "bootstrap"
    if not telling(ratio):  # the lowest earns (almost) nothing: no ratio to state
        return (
            f"{where}{top['series']} earns a mean {layout.horizon} revenue of "
            f"{money(top['mean'])} against {money(low['mean'])} for {low['series']}."
        )
    return (
        f"{where}{top['series']} earns {times(ratio)} the {layout.horizon} revenue of "
        f"{low['series']} ({money(top['mean'])} against {money(low['mean'])}; "
        f"95% CI of the ratio {ratio_text(rlo)}-{ratio_text(rhi)}, {how})."
    )


def coinciding(agg: pl.DataFrame, column: str, order: list[str]) -> list[str]:
    """Series whose lines coincide month by month: ["a and b coincide in japan", ...]."""
    found = []
    rank = {name: i for i, name in enumerate(order)}
    curves = agg.group_by("market", "series", maintain_order=True).agg(
        pl.col(column).sort_by("month").round(9).alias("curve")
    )
    for (market,), group in curves.group_by("market", maintain_order=True):
        same = group.group_by("curve", maintain_order=True).agg(pl.col("series"))
        for names in same["series"].to_list():
            if len(names) > 1:
                names = sorted(names, key=lambda name: rank.get(name, len(rank)))
                found.append(f"{', '.join(names[:-1])} and {names[-1]} coincide in {market}")
    return found


def _split(row: dict[str, Any]) -> str:
    return (
        f"{share(row['ended_vendor'])} by the vendor, {share(row['ended_partner'])} by the partner"
    )


def ended_by_caption(
    risks: pl.DataFrame, curves: pl.DataFrame, order: list[str], months: int
) -> str:
    """`risks`: risk measures per market and series; `curves`: the share ended by either side
    per market, series and month (`value`); `order`: the series' order."""
    if not risks["ended"].fill_null(0).max():
        return f"No partnership ended in any run within {months} months."
    worst = risks.sort("ended", descending=True, nulls_last=True).row(0, named=True)
    best = (
        risks.filter(pl.col("market") == worst["market"])
        .sort("ended", nulls_last=True)
        .row(0, named=True)
    )
    text = (
        f"By month {months}, the partnership has ended in {share(worst['ended'])} of "
        f"{worst['series']} runs in {worst['market']} ({_split(worst)})"
    )
    if best["series"] != worst["series"]:
        text += f", against {share(best['ended'])} of {best['series']} runs ({_split(best)})"
    for same in coinciding(curves, "value", order):
        text += f"; {same}"
    return text + "."


def _focus(frame: pl.DataFrame, layout: Layout) -> tuple[pl.DataFrame, str]:
    """The rows of the focus market (all rows without one) and "In japan, " to say so."""
    market = focus_market(layout)
    sub = frame.filter(pl.col("market") == market) if market else frame
    return (sub, f"In {market}, ") if market and not sub.is_empty() else (frame, "")


def _when(value: float) -> str:
    return "median: never" if math.isinf(value) else f"median month {month(value)}"


def break_even_caption(risks: pl.DataFrame, layout: Layout) -> str:
    """When runs break even: the soonest and latest median in the focus market, and the
    largest share of runs that never break even within the horizon."""
    within = f"within {layout.years:g} years"
    known = risks.drop_nulls("break_even_median")
    if known.is_empty() or known["break_even_never"].min() >= 1:
        return f"No run breaks even {within}: in every run cumulative net cash stays below $0."
    sub, where = _focus(known, layout)
    ranked = sub.sort("break_even_median")
    first, last = ranked.row(0, named=True), ranked.row(ranked.height - 1, named=True)
    if first["series"] == last["series"]:
        text = f"{where}{first['series']} breaks even at a {_when(first['break_even_median'])}"
    else:
        text = (
            f"{where}{first['series']} breaks even soonest ({_when(first['break_even_median'])}) "
            f"and {last['series']} latest ({_when(last['break_even_median'])})"
        )
    never = known.sort("break_even_never", descending=True).row(0, named=True)
    if never["break_even_never"] > 0:
        text += (
            f"; {share(never['break_even_never'])} of {never['series']} runs in "
            f"{never['market']} never break even {within}"
        )
    else:
        text += f"; every run breaks even {within}"
    return text + "."


def npv_caption(risks: pl.DataFrame, layout: Layout) -> str:
    """P(NPV < 0) with its interval: the riskiest and the safest series of the focus market,
    then the riskiest of each other market."""

    def odds(row: dict[str, Any]) -> str:
        return (
            f"95% CI {share(row['npv_negative_lo'])} to {share(row['npv_negative_hi'])}; "
            f"median {money(row['npv_p50'])}"
        )

    known = risks.drop_nulls("npv_negative")
    sub, where = _focus(known, layout)
    worst = sub.sort(["npv_negative", "npv_p50"], descending=[True, False]).row(0, named=True)
    best = sub.sort(["npv_negative", "npv_p50"], descending=[False, True]).row(0, named=True)
    text = (
        f"{where}NPV is negative in {share(worst['npv_negative'])} of {worst['series']} runs "
        f"({odds(worst)})"
    )
    if best["series"] != worst["series"]:
        text += f" against {share(best['npv_negative'])} of {best['series']} runs ({odds(best)})"
    if where:
        for (market,), group in known.filter(pl.col("market") != sub["market"][0]).group_by(
            "market", maintain_order=True
        ):
            top = group.sort("npv_negative", descending=True).row(0, named=True)
            text += (
                f"; in {market}, at most {share(top['npv_negative'])} ({top['series']}, "
                f"95% CI {share(top['npv_negative_lo'])} to {share(top['npv_negative_hi'])})"
            )
    return text + "."


def peak_outlay_caption(quant: pl.DataFrame, layout: Layout) -> str:
    """`quant`: quantiles of the peak outlay per market and series (aggregates.quantiles)."""
    known = quant.filter(pl.col("n") > 0)
    sub, where = _focus(known, layout)
    ranked = sub.sort("median")
    low, high = ranked.row(0, named=True), ranked.row(ranked.height - 1, named=True)
    deepest = known.sort("p95", descending=True).row(0, named=True)
    tail = (
        f"the largest 95th percentile is {money(deepest['p95'])} "
        f"({deepest['market']} / {deepest['series']})"
    )
    if low["series"] == high["series"]:
        return f"{where}{low['series']} has a median peak outlay of {money(low['median'])}; {tail}."
    return (
        f"{where}the median peak outlay ranges from {money(low['median'])} ({low['series']}) "
        f"to {money(high['median'])} ({high['series']}); {tail}."
    )


OUTCOME_WORDS = {
    "lost_competitor": "lost to a competitor",
    "no_decision": "no decision",
    "stalled": "stalled",
}


def deal_outcomes_caption(shares: pl.DataFrame, layout: Layout) -> str:
    """`shares`: per market, series and outcome, the share of ended deals (risk's
    deal_outcome_shares). The series that wins the largest and the smallest share of its
    ended deals in the focus market, with how the rest ended."""
    ended = shares.filter(pl.col("ended") > 0)
    won = ended.filter(pl.col("outcome") == "won")
    sub, where = _focus(won, layout)
    ranked = sub.sort("share", descending=True)
    best, worst = ranked.row(0, named=True), ranked.row(ranked.height - 1, named=True)

    def rest(row: dict[str, Any]) -> str:
        others = ended.filter(
            (pl.col("market") == row["market"])
            & (pl.col("series") == row["series"])
            & (pl.col("outcome") != "won")
        ).sort("share", descending=True)
        return ", ".join(
            f"{OUTCOME_WORDS.get(r['outcome'], r['outcome'])} {share(r['share'])}"
            for r in others.iter_rows(named=True)
        )

    text = (
        f"{where}{best['series']} wins {share(best['share'])} of its {best['ended']:,} ended "
        f"deals ({rest(best)})"
    )
    if worst["series"] != best["series"]:
        text += f", against {share(worst['share'])} of {worst['ended']:,} for {worst['series']}"
        text += f" ({rest(worst)})"
    return text + "."


def pipeline_caption(last: pl.DataFrame, stages: Sequence[str]) -> str:
    """`stages`: the model's, in order; those before `customer` are open, `lost` ones closed."""
    month = int(last["month"].max())
    customer = list(stages).index("customer")
    open_ = sum(pl.col(f"pipeline_{s}") for s in stages[1:customer])
    lost = sum(pl.col(f"pipeline_{s}") for s in stages if s.startswith("lost"))
    frame = last.with_columns(open=open_, lost=lost).sort("pipeline_customer", descending=True)
    top = frame.row(0, named=True)
    return (
        f"At month {month}, {top['market']} / {top['series']} has the most customers: "
        f"{top['pipeline_customer']:.1f} on average, with {top['open']:.1f} opportunities "
        f"still open and {top['lost']:.1f} lost."
    )


def trust_caption(last: pl.DataFrame) -> str:
    month = int(last["month"].max())
    parts = []
    measures = (
        ("trust_mean", "client stakeholders' trust"),
        ("reseller_mean", "the reseller's trust in the vendor"),
    )
    for col, who in measures:
        frame = last.drop_nulls(col).sort(col)
        if frame.is_empty():
            continue
        lo, hi = frame.row(0, named=True), frame.row(frame.height - 1, named=True)
        if frame.height == 1:
            parts.append(f"{who} is {lo[col]:.2f} on average")
            continue
        parts.append(
            f"{who} ranges from {lo[col]:.2f} ({lo['market']} / {lo['series']}) to "
            f"{hi[col]:.2f} ({hi['market']} / {hi['series']})"
        )
    # Stakeholders' trust is defined only in runs with clients in play: say how many.
    covered = last.with_columns(cover=pl.col("trust_n") / pl.col("n")).sort("cover")
    fewest = covered.row(0, named=True)
    if fewest["trust_n"] < fewest["n"]:
        parts.append(
            f"the stakeholders' mean covers only runs with an open deal or an account, "
            f"as few as {fewest['trust_n']} of {fewest['n']} ({fewest['market']} / "
            f"{fewest['series']})"
        )
    return f"At month {month}, " + "; ".join(parts) + "."


def per_rep_caption(
    runs: pl.DataFrame, layout: Layout, quant: pl.DataFrame, target: float | None
) -> str:
    parts = []
    for market in layout.markets:
        q = quant.filter(pl.col("market") == market).sort("median", descending=True)
        if q.is_empty():
            continue
        top = q.row(0, named=True)
        reach = ""
        if target is not None:
            sub = runs.filter((pl.col("market") == market) & (pl.col("series") == top["series"]))
            hit = float((sub[Y1_PER_REP] >= target).mean())
            reach = f", {share(hit)} of its runs reach the target"
        parts.append(
            f"in {market} the best median is {money(top['median'])} ({top['series']}{reach})"
        )
    head = f"Against the {money(target)} target per rep, " if target else ""
    text = head + "; ".join(parts) + "."
    return text[0].upper() + text[1:]


def cycle_caption(quant: pl.DataFrame, per_market: pl.DataFrame) -> str:
    """`quant`: quantiles per market and series; `per_market`: median days per market."""
    per_market = per_market.sort("median", descending=True)
    slow = quant.sort("median", descending=True).row(0, named=True)
    fast = quant.sort("median").row(0, named=True)
    if quant.height == 1:
        return (
            f"Won deals take a median of {slow['median']:.0f} days from first contact to "
            f"decision (middle half {slow['q1']:.0f}-{slow['q3']:.0f} days; "
            f"{slow['n']} won deals)."
        )
    if per_market.height >= 2:
        hi, lo = per_market.row(0, named=True), per_market.row(per_market.height - 1, named=True)
        return (
            f"Won deals take a median of {hi['median']:.0f} days to close in {hi['market']} "
            f"and {lo['median']:.0f} in {lo['market']} ({times(hi['median'] / lo['median'])}); "
            f"the slowest series is {slow['market']} / {slow['series']} at "
            f"{slow['median']:.0f} days."
        )
    return (
        f"The median days to close a won deal range from {fast['median']:.0f} "
        f"({fast['series']}) to {slow['median']:.0f} ({slow['series']}) over "
        f"{int(quant['n'].sum())} won deals."
    )


def _more(row: dict[str, Any]) -> str:
    """$1.2M more, $300k less: a paired difference in words."""
    return f"{money(abs(row['mean']))} {'more' if row['mean'] >= 0 else 'less'}"


def _ci(row: dict[str, Any]) -> str:
    return f"95% CI {money(row['lo'])} to {money(row['hi'])}"


def paired_caption(paired: pl.DataFrame, layout: Layout) -> str:
    """The revenue difference the chart shows, in dollars, in the focus market and the others."""
    frame = paired.filter(pl.col("column") == TOTAL_REVENUE)
    market = focus_market(layout)
    sub = frame.filter(pl.col("market") == market) if market else frame
    preferred = sub.filter((pl.col("a") == "us_urgency") & (pl.col("b") == "hybrid"))
    if preferred.is_empty():
        preferred = sub.with_columns(
            t=(pl.col("mean") / (pl.col("hi") - pl.col("mean")).abs()).abs()
        ).sort("t", descending=True, nulls_last=True)
    row = preferred.row(0, named=True)
    text = (
        f"In {row['market']}, {row['b']} earns {_more(row)} {layout.horizon} revenue than "
        f"{row['a']} per run ({_ci(row)}, over {row['n']} paired replications)"
    )
    others = frame.filter(
        (pl.col("market") != row["market"]) & (pl.col("a") == row["a"]) & (pl.col("b") == row["b"])
    )
    for other in others.iter_rows(named=True):
        text += f"; in {other['market']}, {_more(other)} ({_ci(other)})"
    return text + "."


def sweep_caption(frame: pl.DataFrame, layout: Layout, series_order: list[str]) -> str:
    revenue, ends = outcomes(layout)[0].name, outcomes(layout)[3].name
    # The parameter whose range moves revenue most, in the first series.
    series = frame["series"].unique(maintain_order=True).to_list()
    first = next((s for s in series_order if s in series), series[0])
    sub = frame.filter(pl.col("series") == first)
    best, best_span = None, -1.0
    for name in frame["parameter"].unique(maintain_order=True).to_list():
        rev = sub.filter((pl.col("parameter") == name) & (pl.col("outcome") == revenue))
        span = float(rev["value"].max() - rev["value"].min()) if rev.height else -1.0
        if span > best_span:
            best, best_span = name, span
    rev = sub.filter((pl.col("parameter") == best) & (pl.col("outcome") == revenue)).sort("x")
    end = sub.filter((pl.col("parameter") == best) & (pl.col("outcome") == ends)).sort("x")
    lo, hi = rev.row(0, named=True), rev.row(rev.height - 1, named=True)
    text = (
        f"For {first}, raising {best} from {lo['x']:.3g} to {hi['x']:.3g} moves the mean "
        f"{revenue.removesuffix(' (USD)')} from {money(lo['value'])} to {money(hi['value'])}"
    )
    if end.height:
        text += (
            f" and the probability that the partnership ends from "
            f"{share(end['value'][0])} to {share(end['value'][-1])}"
        )
    return text + "."


def heatmap_caption(stat: pl.DataFrame, outcome: Outcome, xname: str, yname: str) -> str:
    ordered = stat.sort("value", descending=True)
    hi, lo = ordered.row(0, named=True), ordered.row(ordered.height - 1, named=True)
    name = outcome.name.removesuffix(" (USD)")
    if hi["value"] == lo["value"]:
        return f"{name} is {outcome.fmt(hi['value'])} in every cell of the grid."
    if outcome.proportion:
        best, worst = lo, hi
        verb = "is lowest"
    else:
        best, worst = hi, lo
        verb = "peaks"
    several = stat["panel"].n_unique() > 1

    def where(r: dict[str, Any]) -> str:
        cell = f"{short(xname)}={r['x']:g}, {short(yname)}={r['y']:g}"
        return cell + (f" ({r['panel']})" if several else "")

    return (
        f"{name} {verb} at {where(best)}: "
        f"{outcome.fmt(best['value'])} (95% CI {outcome.fmt(best['lo'])} to "
        f"{outcome.fmt(best['hi'])}), against {outcome.fmt(worst['value'])} at {where(worst)}."
    )


# A Sobol index lies in [0, 1]: a 95% CI wider than this either way says nothing about it.
SOBOL_TOO_WIDE = 0.5


def sobol_caption(frame: pl.DataFrame, layout: Layout) -> str:
    """What the Sobol indices of the first outcome show, claiming only what their 95% CIs
    support: which parameter matters most when its CI clears the others', how much
    interactions account for when the first-order indices' CIs tell it, and that the sample
    is too small when the intervals are too wide to say anything."""
    revenue = outcomes(layout)[0].name
    sub = frame.filter(pl.col("outcome") == revenue)
    if sub.is_empty():
        sub = frame.filter(pl.col("outcome") == frame["outcome"][0])
        revenue = frame["outcome"][0]
    name = revenue.removesuffix(" (USD)")
    sub = sub.drop_nulls("value").with_columns(half=(pl.col("hi") - pl.col("lo")) / 2)
    st = sub.filter(pl.col("index") == "ST").sort("value", descending=True)
    s1 = sub.filter(pl.col("index") == "S1")
    if st.is_empty():
        return f"No Sobol index of {name} could be estimated."
    top = st.row(0, named=True)
    widest = sub.sort("half", descending=True, nulls_last=True).row(0, named=True)
    if widest["half"] is None or widest["half"] > SOBOL_TOO_WIDE:
        return (
            f"The sample is too small for Sobol indices of {name}: their 95% CIs run as wide "
            f"as {widest['lo']:.2f} to {widest['hi']:.2f} ({widest['index']} of "
            f"{widest['parameter']}), so they tell neither which parameter matters most nor "
            "how much interactions do; run more samples (sweep.samples)."
        )
    ci = f"ST = {top['value']:.2f} (95% CI {top['lo']:.2f} to {top['hi']:.2f})"
    others = st.slice(1)
    if others.is_empty() or top["lo"] > others["hi"].max():
        text = f"{top['parameter']} has the largest total effect on {name}: {ci}."
    else:
        close = others.filter(pl.col("hi") >= top["lo"])["parameter"].to_list()
        text = (
            f"{top['parameter']} has the largest estimate of the total effect on {name}, {ci}, "
            f"but its CI overlaps that of {_names(close)}: the sample does not rank them."
        )
    total = float(s1["value"].sum())
    half = float(np.sqrt((s1["half"] ** 2).sum()))  # independent estimates, roughly
    low, high = 1 - total - half, 1 - total + half
    sums = (
        f"The first-order indices sum to {total:.2f} "
        f"(95% CI {total - half:.2f} to {total + half:.2f})"
    )
    if high <= 0.1:
        return f"{text} {sums}, so interactions account for at most {high:.0%} of the variance."
    if low > 0:
        return f"{text} {sums}, so interactions account for at least {low:.0%} of the variance."
    return f"{text} {sums}, which does not tell how much interactions account for."


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"


def morris_caption(frame: pl.DataFrame, layout: Layout) -> str:
    known = {o.name: o for o in outcomes(layout)}
    name = outcomes(layout)[0].name
    if frame.filter(pl.col("outcome") == name).is_empty():
        name = frame["outcome"][0]
    sub = frame.filter(pl.col("outcome") == name)
    fmt = known[name].fmt if name in known else number
    ranked = sub.sort("mu_star", descending=True, nulls_last=True)
    top = ranked.row(0, named=True)
    runner_up = ranked.row(1, named=True) if ranked.height > 1 else None
    text = (
        f"{top['parameter']} has the largest mean absolute effect on "
        f"{top['outcome'].removesuffix(' (USD)')}: mu* = {fmt(top['mu_star'])} "
        f"(± {fmt(top['mu_star_conf'])}), sigma = {fmt(top['sigma'])}"
    )
    if runner_up:
        text += f", ahead of {runner_up['parameter']} (mu* = {fmt(runner_up['mu_star'])})"
    return text + "."
