"""The what-if app in a real browser: `partnersim app` served, driven in headless Chromium.

The command is started as a user starts it (in its own process group, with two pool
workers) and driven over the DevTools protocol (`tests.browser`) as a user would drive it:
at 1280 px the test types 4 replications of 1 year, presses Run and waits for the success
message; then a second session at 390 px (a phone) opens the side panel and asks for the
same setting, whose runs are cached, so the page draws it at once, without Run. On each
page the five charts must show their data in a plot of the height asked for, with their
whole titles and their legends inside them; the four headline numbers and the table of
differences must be shown; nothing may be logged at the console's error level, no request
may fail and none may leave the machine (only the app's own origin, data: and blob:); at
390 px the page must be no wider than the window. A full-page screenshot of each is saved
(and copied to /tmp/app_1280.png and /tmp/app_390.png for a person to look at). Finally
the server process alone gets SIGTERM, as a service manager would stop it: it and every
process it started must be gone within 10 s. Without a local `chromium` the test is
skipped; CI installs it.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser import CHROMIUM, DevTools

ROOT = Path(__file__).resolve().parents[2]
HEIGHT = 900
STARTUP_S = 60
RUN_S = 60
CHART_TITLES = (
    "Cumulative revenue: P10, P50, P90",
    "NPV of each replication",
    "The partnership: still running, ended by whom",
    "Break-even: share of replications still below zero cash",
    "Days to close",
)
METRICS = ("Median NPV", "P(NPV < 0)", "Partnership ended", "Median revenue")
FINISHED = "4 of 4 replications finished."
MIN_PLOT_PX = 100  # the data area of each chart, at least (the app asks for 120 or 240 high)
# What the page shows of its charts, numbers and table, and how wide it is.
PAGE_STATE = """(() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.right, r.height]; };
  const main = document.querySelector('[data-testid=stMain]');
  const lines = t => [...t.querySelectorAll('tspan')].map(l => l.textContent).join(' ')
    || t.textContent;  // a title of several lines is a text of tspans
  return {
    viewport: document.documentElement.clientWidth,
    page: document.documentElement.scrollWidth,
    main: main ? main.scrollWidth : null,
    charts: [...document.querySelectorAll('[data-testid=stVegaLiteChart]')].map(c => {
      const drawing = c.querySelector('svg.marks, canvas');
      const plot = c.querySelector('.role-frame.root > g > path.background');
      return {
        drawing: drawing ? box(drawing) : null,
        plot: plot ? [plot.getBBox().width, plot.getBBox().height] : null,
        legends: [...c.querySelectorAll('.role-legend')].map(box),
        marks: c.querySelectorAll('.role-mark > *').length,
        title: [...c.querySelectorAll('.role-title-text text')].map(lines).join(' '),
      };
    }),
    metrics: [...document.querySelectorAll('[data-testid=stMetric]')].map(m => [
      m.querySelector('[data-testid=stMetricLabel]')?.innerText.trim(),
      m.querySelector('[data-testid=stMetricValue]')?.innerText.trim(),
    ]),
    table: [...document.querySelectorAll('[data-testid=stDataFrame]')].map(t => ({
      text: t.innerText + ' ' + t.textContent,
      canvas: [...t.querySelectorAll('canvas')].map(c => [c.width, c.height]),
    })),
  };
})()"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> set[int]:
    """The processes `pid` started that are still its children."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(int(c) for c in (task / "children").read_text().split())
    return found


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def running(pid: int) -> bool:
    """Whether `pid` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def group(pgid: int) -> list[int]:
    """The live processes of a process group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError):
            state, _, group_id = stat.read_text().rsplit(")", 1)[1].split()[:3]
            if int(group_id) == pgid and state != "Z":
                found.append(int(stat.parent.name))
    return found


def start_server(port: int, saved: Path, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "experiments.cli", "app", "--port", str(port)]
    command += ["--workers", "2", "--out", str(saved)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_healthy(server: subprocess.Popen, port: int, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the app exited with {server.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        time.sleep(0.2)
    pytest.fail(f"the app did not answer within {STARTUP_S} s: {log.read_text()[-2000:]}")


def stop(server: subprocess.Popen) -> None:
    """The last resort: the whole process group killed."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)
    if server.poll() is None:
        server.kill()
    server.wait(timeout=30)


def field(label: str) -> str:
    return f"document.querySelector('input[aria-label=\"{label}\"]')"


def button(text: str) -> str:
    return f"[...document.querySelectorAll('button')].find(b => b.innerText.trim() === '{text}')"


def shows(text: str) -> str:
    return f"document.body.innerText.includes({text!r})"


def open_app(browser: DevTools, port: int, width: int) -> str:
    """A new session of the app in a window `width` px wide; returns the tab's session id."""
    session = browser.open_page(width, HEIGHT)
    browser.send("Page.navigate", {"url": f"http://127.0.0.1:{port}/"})
    browser.wait_for(f"!!{field('Seed')} && !!{button('Run')}", 30, "the controls were drawn")
    return session


def sidebar(browser: DevTools, *, open_it: bool) -> None:
    """Open or close the side panel (collapsed at first on a phone) as a user would."""
    collapsed = "!!document.querySelector('[data-testid=stExpandSidebarButton]')"
    if browser.evaluate(collapsed) == open_it:
        if open_it:
            browser.click("document.querySelector('[data-testid=stExpandSidebarButton]')")
        else:
            browser.click("document.querySelector('[data-testid=stSidebarCollapseButton] button')")
        browser.wait_for(collapsed if not open_it else f"!{collapsed}", 10, "the side panel")
    if open_it:  # after its slide: the controls in view
        browser.wait_for(f"{field('Seed')}.getBoundingClientRect().left >= 0", 10, "side panel")


def set_ensemble(browser: DevTools) -> None:
    """Type 4 replications, then 1 year, each applied (a rerun) before the next."""
    browser.type_into(field("Replications"), "4")
    browser.wait_for(shows("4 replications of 5 years each"), 30, "4 replications applied")
    browser.type_into(field("Years"), "1")
    browser.wait_for(shows("4 replications of 1 year each"), 30, "1 year applied")
    values = browser.evaluate(f"[{field('Replications')}.value, {field('Years')}.value]")
    assert [float(v) for v in values] == [4, 1]


def drawn(state: dict) -> bool:
    """Every chart, number and the table on the page, drawn with data."""
    charts = state["charts"]
    return (
        len(charts) == len(CHART_TITLES)
        and all(c["drawing"] and c["drawing"][2] > 0 and c["marks"] for c in charts)
        and len(state["metrics"]) == len(METRICS)
        and all(value for _, value in state["metrics"])
        and len(state["table"]) == 1
        and "Revenue over the horizon" in state["table"][0]["text"]
    )


def page_state(browser: DevTools) -> dict:
    deadline = time.monotonic() + 30
    while not drawn(state := browser.evaluate(PAGE_STATE)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return state


def chart_problems(state: dict, width: int) -> list[str]:
    """What is wrong with the charts as drawn: each must show its data in a plot of its
    height (Streamlit's own sizing once squeezed titles, legends and axes into it, leaving
    no room for the data), with its whole title and its legends within its drawing."""
    problems = []
    titles = [c["title"] for c in state["charts"]]
    if titles != list(CHART_TITLES):
        problems.append(f"titles (a shortened one ends in …): {titles}")
    for chart in state["charts"]:
        name = chart["title"][:24]
        if not chart["drawing"]:
            problems.append(f"{name}: not drawn")
            continue
        left, right, _ = chart["drawing"]
        plot_width, plot_height = chart["plot"] or (0, 0)
        if plot_height < MIN_PLOT_PX or plot_width < MIN_PLOT_PX:
            problems.append(f"{name}: a plot of {plot_width:.0f} x {plot_height:.0f} px")
        if left < -1 or right > state["viewport"] + 1:
            problems.append(f"{name}: drawn from {left} to {right} px")
        for legend_left, legend_right, _ in chart["legends"]:
            if legend_left < left - 1 or legend_right > right + 1:
                problems.append(f"{name}: a legend from {legend_left} to {legend_right} px")
    return [f"{width} px: {problem}" for problem in problems]


def check_page(browser: DevTools, session: str, port: int, state: dict, width: int) -> list:
    """The numbers and table shown, nothing failed or left; returns the charts' problems
    (asserted at the end, so that one run tells them all, at both widths)."""
    assert [label for label, _ in state["metrics"]] == list(METRICS), state["metrics"]
    for label, value in state["metrics"]:
        assert re.search(r"\d", value or ""), f"{width} px: {label} shows {value!r}"
    (table,) = state["table"]
    for measure in ("Revenue over the horizon", "NPV", "Partnership ended"):
        assert measure in table["text"], f"{width} px: the table lacks {measure}"
    assert any(w > 100 and h > 100 for w, h in table["canvas"]), table["canvas"]
    assert browser.console_errors(session) == [], f"{width} px"
    assert browser.failed_requests(session) == [], f"{width} px"
    own = (f"http://127.0.0.1:{port}/", f"ws://127.0.0.1:{port}/", "data:", "blob:")
    away = [u for u in browser.requested_urls(session) if not u.startswith(own)]
    assert away == [], f"{width} px: the page fetched {away}"
    return chart_problems(state, width)


def screenshot(browser: DevTools, width: int, path: Path) -> None:
    """The whole page: the window made as tall as the main column's content, then shot."""
    height = browser.evaluate("document.querySelector('[data-testid=stMain]').scrollHeight")
    browser.resize(width, max(HEIGHT, height))
    browser.wait_for(f"document.querySelector('[data-testid=stMain]').clientHeight >= {height}", 10)
    browser.screenshot(path)
    browser.resize(width, HEIGHT)
    shutil.copy(path, f"/tmp/app_{width}.png")
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("L"), dtype=float)
        assert image.width == width
    assert pixels.std() > 10 and len(np.unique(pixels)) > 16, f"{path} is blank"


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
def test_app_runs_and_draws_in_headless_chromium_then_stops_with_its_workers(tmp_path):
    started = time.monotonic()
    port, log = free_port(), tmp_path / "server.log"
    server = start_server(port, tmp_path / "saved", log)
    browser = None
    try:
        wait_healthy(server, port, log)
        pool = children(server.pid)  # the pool is started before the server answers
        workers = [p for p in pool if "multiprocessing.spawn" in cmdline(p)]
        assert len(workers) == 2, {p: cmdline(p) for p in pool}
        browser = DevTools(tmp_path / "profile", tmp_path / "chromium.log")

        # A laptop: set the ensemble, press Run, wait for every replication.
        wide = open_app(browser, port, 1280)
        set_ensemble(browser)
        browser.wait_for(shows("Press Run to simulate this setting (0 of 4 runs cached)."), 30)
        browser.click(button("Run"))
        browser.wait_for(shows(FINISHED), RUN_S, f"'{FINISHED}'")
        state = page_state(browser)
        screenshot(browser, 1280, tmp_path / "app_1280.png")
        problems = check_page(browser, wide, port, state, 1280)
        browser.close_page()

        # A phone, a new session: the same setting is cached, so it is drawn without Run.
        narrow = open_app(browser, port, 390)
        sidebar(browser, open_it=True)
        set_ensemble(browser)
        browser.wait_for(shows(FINISHED), 30, f"'{FINISHED}' without Run")
        sidebar(browser, open_it=False)
        state = page_state(browser)
        screenshot(browser, 390, tmp_path / "app_390.png")
        problems += check_page(browser, narrow, port, state, 390)
        assert state["page"] <= state["viewport"], f"390 px: the page is {state['page']} px"
        assert state["main"] <= state["viewport"], f"390 px: the main column is {state['main']}"
        assert children(server.pid) == pool, "the pool's workers were replaced"

        # Stopped as a service manager would stop it: the server and its pool all exit.
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        deadline = time.monotonic() + 10
        while (left := [p for p in pool if running(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert left == [], f"left behind: {[cmdline(p) for p in left]}"
        assert group(server.pid) == [], "left in the server's process group"
    finally:
        if browser is not None:
            browser.close()
        stop(server)
    assert not problems, "the charts as drawn:\n" + "\n".join(problems)
    print(f"\nthe app in chromium at 1280 and 390 px: {time.monotonic() - started:.1f} s")
