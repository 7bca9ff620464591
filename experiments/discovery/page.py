"""The discovery's page, DIR/discovery.html (and DIR/charts/discovery-*.png, .svg): per
condition, the boxes' restricted ranges and the peeling trajectories, then the full table.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import polars as pl

from experiments.discovery.analysis import Discovery, Settings, Space, restriction_text
from experiments.report.standalone import Figure, Text, table_html, write_page


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label).strip("-")


def boxes_html(discovery: Discovery, condition: str, settings: Settings) -> str:
    """One table row per group and box: its figures and the ranges it restricts."""
    rows = []
    for s in discovery.summary:
        if s["condition"] != condition:
            continue
        share = s["cases"] / s["runs"] if s["runs"] else 0.0
        mine = discovery.boxes.filter(
            (pl.col("condition") == condition) & (pl.col("group") == s["group"])
        )
        if mine.is_empty():
            reason = "no run meets it" if not s["cases"] else "every run meets it"
            rows.append((s["group"], f"{s['cases']}/{s['runs']} ({share:.0%})", "", "", "", reason))
        for number in mine["box"].unique(maintain_order=True):
            box = mine.filter(pl.col("box") == number)
            first = box.row(0, named=True)
            limits = [restriction_text(r) for r in box.filter("restricted").iter_rows(named=True)]
            note = "" if first["meets_threshold"] else f" (below {settings.threshold:.0%})"
            rows.append(
                (
                    s["group"],
                    f"{s['cases']}/{s['runs']} ({share:.0%})",
                    str(number),
                    f"{first['coverage']:.1%}",
                    f"{first['density']:.1%}{note}",
                    "; ".join(limits) or "no uncertainty restricted",
                )
            )
    head = ("policy", "runs meeting it", "box", "coverage", "density", "restricted ranges")
    cells = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    header = "".join(f"<th>{h}</th>" for h in head)
    return f"<div class=table-wrap><table><tr>{header}</tr>{cells}</table></div>"


def figures(discovery: Discovery, condition: str, space: Space) -> list[Figure]:
    from experiments.charts.discovery import peeling_chart

    steps = discovery.trajectory.filter(pl.col("condition") == condition)
    if steps.is_empty():
        return []
    frame = steps.with_columns(
        panel=pl.format("{} | box {}", pl.col("group"), pl.col("box"))
    ).select("panel", "step", "coverage", "density", "mass", "restricted_count", "chosen")
    chosen = discovery.boxes.filter((pl.col("condition") == condition) & (pl.col("box") == 1))
    firsts = chosen.unique(["group"], maintain_order=True)
    caption = "First boxes: " + "; ".join(
        f"{r['group']} coverage {r['coverage']:.0%} at density {r['density']:.0%}"
        for r in firsts.iter_rows(named=True)
    ) + (". Peeling trades coverage (the share of the runs meeting the condition that the "
         "box holds) for density (the share of the box's runs that meet it).")  # fmt: skip
    chart = peeling_chart(
        frame,
        title=f"Peeling trajectory: {condition}",
        subtitle=f"PRIM over {len(space.uncertainties)} uncertainties",
    )
    return [Figure(f"discovery-{_slug(condition)}", f"Where {condition}", caption, chart)]


def write(root: Path, discovery: Discovery, space: Space, settings: Settings, images: bool) -> Path:
    conditions = list(dict.fromkeys(s["condition"] for s in discovery.summary))
    blocks: list[Any] = [
        Text(
            "What was searched",
            "<p>Uncertainties: "
            + ", ".join(
                f"<code>{html.escape(u)}</code> ({lo:.4g} to {hi:.4g})"
                for u, (lo, hi) in space.ranges.items()
            )
            + ". Runs are grouped by "
            + (", ".join(f"<code>{html.escape(c)}</code>" for c in space.levers) or "nothing")
            + f". A box is the step of PRIM's peeling with the most coverage among those of "
            f"density {settings.threshold:.0%} or more (else the densest); up to "
            f"{settings.max_boxes} boxes per policy; restrictions with a quasi-p value above "
            f"{settings.max_qp} are dropped.</p>",
        )
    ]
    for condition in conditions:
        blocks.append(Text(f"Boxes: {condition}", boxes_html(discovery, condition, settings)))
        blocks += figures(discovery, condition, space)
    blocks.append(Text("Every box and uncertainty", table_html(discovery.boxes)))
    lead = (
        f"PRIM (EMA Workbench) over {len(space.uncertainties)} uncertainties for "
        + ", ".join(conditions)
        + "."
    )
    return write_page(root, "discovery", f"partnersim discover: {root.name}", lead, blocks, images)
