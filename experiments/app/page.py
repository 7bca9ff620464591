"""The what-if page (a Streamlit script; `partnersim app` serves it).

Controls on the side: a market, a starting preset, the style levers, the operations and the
ensemble (years, replications, seed). The model checks the values before anything runs; a
refused one shows the command line's own message under its control. Run sends the missing
replications of the setting and of its pinned baseline (the starting preset until another
setting is pinned; same market, years and random numbers) to the warm pool, interleaved so
pairs finish together, and the charts are redrawn as they finish. A setting whose runs are
all cached is drawn at once, without Run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import streamlit as st

from agents import parameters
from agents.parameters import ConfigError, Policy
from experiments.app import pool as pools
from experiments.app import setting as settings
from experiments.app import view
from experiments.app.pool import Replication
from experiments.app.setting import Setting
from experiments.config import NAME_PATTERN
from experiments.runner import RunFailure
from experiments.store.atomic import write_bytes_atomically

WORKERS_ENV = "PARTNERSIM_APP_WORKERS"  # set by `partnersim app --workers`
OUT_ENV = "PARTNERSIM_APP_OUT"  # set by `partnersim app --out`
REDRAW_S = 2.0  # the charts are redrawn at most this often while runs finish
POLL_S = 0.05


def lever_key(lever: str) -> str:
    return f"policy.{lever}"


def reset_levers() -> None:
    """A new starting preset sets every lever to the preset's value."""
    for lever, value in settings.preset_values(st.session_state["preset"]).items():
        st.session_state[lever_key(lever)] = value


def controls() -> tuple[dict, dict]:
    """The side panel: returns the values and an error slot under each control."""
    state, slots, values = st.session_state, {}, {}
    if "preset" not in state:
        state["preset"] = "hybrid"
        reset_levers()
    side = st.sidebar
    values["market"] = side.selectbox("Market", parameters.market_names(), key="market")
    values["preset"] = side.selectbox(
        "Starting preset", parameters.PRESET_NAMES, key="preset", on_change=reset_levers
    )
    side.subheader("Style")
    for lever, label in (
        ("urgency", "Urgency"),
        ("relationship_investment", "Relationship investment"),
        ("overselling", "Overselling"),
    ):
        side.slider(label, 0.0, 1.0, step=0.05, key=lever_key(lever))
        slots[lever_key(lever)] = side.empty()
    timings = Policy.__dataclass_fields__["proposal_timing"].metadata["choices"]
    side.selectbox("Proposal timing", timings, key=lever_key("proposal_timing"))
    slots[lever_key("proposal_timing")] = side.empty()
    side.subheader("Operations")
    for lever, label, step in (
        ("patience_months", "Vendor patience (months)", 1),
        ("support_staff", "Support desk staff (people)", 1),
        ("turnaround_days", "Desk turnaround (days)", 0.5),
        ("review_months", "Months between reviews", 1),
    ):
        side.number_input(label, step=step, key=lever_key(lever))
        slots[lever_key(lever)] = side.empty()
    side.subheader("Ensemble")
    for key, label, default, step in (
        ("years", "Years", 5.0, 1.0),
        ("replications", "Replications", settings.DEFAULT_REPLICATIONS, 1),
        ("seed", "Seed", settings.DEFAULT_SEED, 1),
    ):
        values[key] = side.number_input(label, value=default, step=step, key=key)
        slots[key] = side.empty()
    values["levers"] = {lever: state[lever_key(lever)] for lever in settings.LEVERS}
    return values, slots


def current_setting(values: dict) -> Setting:
    return Setting.of(
        values["market"],
        values["preset"],
        values["levers"],
        years=values["years"],
        replications=values["replications"],
        seed=values["seed"],
    )


def pinned_baseline(setting: Setting) -> Setting:
    """The pinned policy (the starting preset by default) in the setting's ensemble."""
    pinned = st.session_state.get("baseline") or Setting(preset=setting.preset)
    return setting.with_policy_of(pinned)


def header_buttons(disabled: bool) -> tuple[bool, bool, bool]:
    """Run, pin the setting as the baseline, return to the starting preset's baseline."""
    run, pin, reset = st.columns(3)
    return (
        run.button("Run", type="primary", key="run", disabled=disabled),
        pin.button("Pin as baseline", key="pin", disabled=disabled),
        reset.button("Baseline: the starting preset", key="unpin"),
    )


def describe(setting: Setting) -> str:
    moved = ", ".join(f"{k} {v}" for k, v in setting.levers) or "no lever moved"
    return f"{setting.preset} ({moved})"


def save_files(setting: Setting, out: Path) -> None:
    """Write the setting as a policy file or an experiment file the command line runs."""
    with st.expander("Save this setting as a file the command line runs"):
        name = st.text_input("File name", value="whatif", key="save_name")
        policy, experiment = st.columns(2)
        targets = []
        if policy.button("Save as policy file", key="save_policy"):
            targets.append((out / f"{name}.toml", setting.policy_toml, "simulate --policy"))
        if experiment.button("Save as experiment", key="save_experiment"):
            targets.append((out / f"{name}_experiment.toml", setting.experiment_toml, "run"))
        for path, write, command in targets:
            if not NAME_PATTERN.fullmatch(name):
                st.error(f"File name: got {name!r}, expected letters, digits, _ . or -")
                continue
            text = write(name)
            if path.exists() and path.read_text(encoding="utf-8") != text:
                st.error(f"{path} exists: choose another name (nothing was written)")
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomically(path, text.encode())
                st.success(f"Wrote {path}: partnersim {command} {path}")


def main() -> None:
    st.set_page_config(page_title="partnersim: what if", layout="wide")
    st.title("What if")
    values, error_slots = controls()
    pool = pools.shared(int(os.environ.get(WORKERS_ENV, "0")) or None)
    try:
        setting = current_setting(values)
        specs = setting.specs()
    except ConfigError as err:
        header_buttons(disabled=True)
        slot = error_slots.get(err.key) or error_slots.get(err.key.split(" ")[0])
        (slot or st).error(f"partnersim: error: {err}")
        st.warning("Nothing runs until the model accepts every value.")
        return
    pressed, pin, unpin = header_buttons(disabled=False)
    if pin:
        st.session_state["baseline"] = setting
    if unpin:
        st.session_state["baseline"] = None
    baseline = pinned_baseline(setting)
    baseline_specs = baseline.specs()
    st.caption(
        f"Setting: {setting.market}, {describe(setting)}. Baseline: {describe(baseline)}. "
        f"{setting.replications} replications of {setting.years:g} "
        f"year{'' if setting.years == 1 else 's'} each, paired: "
        f"replication r of both uses the same random numbers (seed {setting.seed})."
    )
    status, progress = st.empty(), st.empty()
    slots = {"headline": st.empty()}
    for row in (("revenue", "npv"), ("survival", "break_even"), ("cycle", "differences")):
        for column, name in zip(st.columns(2), row, strict=True):
            slots[name] = column.empty()
    save_files(setting, Path(os.environ.get(OUT_ENV, "results/app")))
    wanted = [s for pair in zip(specs, baseline_specs, strict=True) for s in pair]
    ids = {"setting": [s.run_id for s in specs], "baseline": [s.run_id for s in baseline_specs]}
    if pressed:
        pool.request(wanted)
        st.session_state["requested"] = ids
        if not pool.results(ids["setting"] + ids["baseline"]):
            view.waiting(slots)  # the browser loads its chart code while the first runs run
    follow(pool, ids, status, progress, slots, waiting=st.session_state.get("requested") == ids)


def progress_text(done: int, total: int, done0: int, started: float, now: float) -> str:
    """'12 of 40 runs (setting and baseline), 6.1 s, about 14 s left'."""
    text = f"{done} of {total} runs (setting and baseline), {now - started:.1f} s"
    if done - done0 > 0 and done < total:
        left = (now - started) / (done - done0) * (total - done)
        text += f", about {left:.0f} s left"
    return text


def follow(pool, ids: dict, status, progress, slots, *, waiting: bool) -> None:
    """Draw what has finished; while runs asked for are pending, redraw as they finish."""
    total = len(set(ids["setting"]) | set(ids["baseline"]))
    started, drawn, shown, done0, progressed = time.monotonic(), -1, 0.0, None, -1
    while True:
        found = pool.results(ids["setting"] + ids["baseline"])
        failures = [r for r in found.values() if isinstance(r, RunFailure)]
        if failures:
            status.error(f"{len(failures)} runs failed: {failures[0].error}")
            return
        done = len(found)
        if waiting and done < total and pool.lost(ids["setting"] + ids["baseline"]):
            status.error(
                "Some runs are no longer queued (a worker process was lost, or another page "
                "asked for other runs): press Run to run them."
            )
            return
        done0 = done if done0 is None else done0
        if not waiting and done < total:
            status.info(f"Press Run to simulate this setting ({done} of {total} runs cached).")
            return
        now = time.monotonic()
        if done != drawn and (done == total or drawn <= 0 or now - shown >= REDRAW_S):
            ensembles = {
                series: [found[r] for r in run_ids if isinstance(found.get(r), Replication)]
                for series, run_ids in ids.items()
            }
            if done:
                view.draw(slots, ensembles)
            drawn, shown = done, now
        if done != progressed:
            progress.progress(done / total, text=progress_text(done, total, done0, started, now))
            progressed = done
        if done == total:
            status.success(f"{len(ids['setting'])} of {len(ids['setting'])} replications finished.")
            return
        time.sleep(POLL_S)


# Spawned pool workers import this file as `__mp_main__` (Streamlit runs it as `__main__`):
# they must not draw the page.
if __name__ == "__main__":
    main()
