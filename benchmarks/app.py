"""The what-if app's speed against `partnersim run`: the issue's two targets, measured in one
run on this machine.

Targets (issue 20): 20 replications of a 5-year Japan run on screen within 1.2x the time the
same 20 runs take in `partnersim run` with 2 workers; the first chart within 1 s of the
first finished replication.

A round measures both sides, in an order that alternates between rounds, so a slower minute
of this shared machine does not always fall on the same side:

- the command: `partnersim run` of the app's default setting written as an experiment file
  by `Setting().experiment_toml` (Japan, hybrid, 5 years, 20 replications, the app's seed:
  the app's very runs), `--workers 2 --fresh`; the wall time of the whole command (Python
  start, imports, pool start, runs, Parquet parts, summary), as a user waits for it;
- the app: a fresh `partnersim app --workers 2` (nothing cached) with
  `PARTNERSIM_APP_TRACE` set, so its pool appends "<run_id> <unix time>" as each run
  finishes; the page opened at 1280 px in headless Chromium (`tests.browser`), the server
  and its pool left to settle (idle for a second: warm), then a MutationObserver in the
  page records `Date.now()` at the click on Run, when the headline numbers appear, when the
  first chart with data is drawn (the revenue chart's subtitle ends "k pairs") and when all
  20 are on screen (the success message and "20 pairs"). The default setting is its own
  baseline (the starting preset), so the app runs exactly the 20 runs. The browser's clock
  and the trace's are the same machine's. Then Years is set to 1 and back to 5: the time
  from that Enter to the 20 replications on screen again is the return to a cached setting.

Columns, in seconds: `command`; `app` (click to all 20 on screen) and `ratio` (app /
command, the first target); `first run` (click to the first finished run); `first numbers`
and `first chart` (from the first finished run: the second target); `last run to screen`;
`cached`; then CPU time: `command cpu`, the whole command's (its workers' included), and
`app cpu`, from the click to all 20 on screen, split into the pool's `workers`, the
`server` process and the `browser` (Chromium, every process of it), which share the
machine's 2 cores with the runs.

Prints a row per round and the medians. Not part of the test suite. About a minute a round
on 2 cores. Run from the repository's root:

    .venv/bin/python benchmarks/app.py [--rounds 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPLICATIONS = 20
DONE_TEXT = f"{REPLICATIONS} of {REPLICATIONS} replications finished."
# Marks in the page: `start` at a click or an Enter, then the first chart and all 20 drawn.
OBSERVER = """(() => {
  const bench = window.__bench = {start: null, numbers: null, first: null, done: null};
  // A text of several lines is a text of tspans; the revenue chart's subtitle ends "k pairs".
  const lines = t => [...t.querySelectorAll('tspan')].map(l => l.textContent).join(' ')
    || t.textContent;
  const mark = () => {
    if (bench.start === null) return;
    const now = Date.now();
    if (bench.numbers === null && document.querySelector('[data-testid=stMetric]')) {
      bench.numbers = now;
    }
    const svg = document.querySelector('[data-testid=stVegaLiteChart] svg.marks');
    const text = svg ? [...svg.querySelectorAll('text')].map(lines).join(' ') : '';
    if (bench.first === null && / [0-9]+ pairs/.test(text)) bench.first = now;
    if (bench.done === null && text.includes(' N pairs')
        && document.body.textContent.includes('DONE')) bench.done = now;
  };
  const start = e => { if (bench.start === null) { bench.start = Date.now(); } };
  document.addEventListener('click', start, true);
  document.addEventListener('keydown', e => { if (e.key === 'Enter') start(e); }, true);
  new MutationObserver(mark).observe(document.body,
    {childList: true, subtree: true, characterData: true});
  return true;
})()""".replace("N pairs", f"{REPLICATIONS} pairs").replace("DONE", DONE_TEXT)
RESET = "Object.assign(window.__bench, {start: null, numbers: null, first: null, done: null})"


def experiment_file(directory: Path) -> Path:
    from experiments.app.setting import Setting

    setting = Setting()
    assert setting.replications == REPLICATIONS and setting.years == 5
    path = directory / "app_default.toml"
    path.write_text(setting.experiment_toml("app_default"), encoding="utf-8")
    return path


def command_seconds(config: Path, out: Path, workers: int) -> tuple[float, float]:
    """Wall and CPU time (its workers' included) of `partnersim run CONFIG --workers N
    --out OUT --fresh`."""
    command = [sys.executable, "-m", "experiments.cli", "run", str(config)]
    command += ["--workers", str(workers), "--out", str(out), "--fresh"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"partnersim run exited with {result.returncode}: {result.stderr}")
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return elapsed, cpu


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_ticks(pid: int) -> int:
    """User and system CPU time of a process, in clock ticks (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12])


def processes(pid: int) -> list[int]:
    """The process and its children."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def tree(pid: int) -> list[int]:
    """The process and all its descendants."""
    found, index = [pid], 0
    while index < len(found):
        found += [p for p in processes(found[index]) if p != found[index]]
        index += 1
    return found


def cpu_seconds(roots: list[int], descendants: bool = True) -> float:
    """CPU time used so far by the processes (and their living descendants)."""
    ticks = sum(cpu_ticks(p) for root in roots for p in (tree(root) if descendants else [root]))
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, workers: int, timeout: float = 120) -> None:
    """Until the server and its warm workers use no CPU for a second."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = processes(pid)
        before = {p: cpu_ticks(p) for p in pids}
        time.sleep(1.0)
        used = sum(cpu_ticks(p) - ticks for p, ticks in before.items())
        if len(pids) > workers and used <= 2:  # 20 ms of CPU in a second: idle
            return
    raise SystemExit(f"the app's pool did not settle within {timeout:g} s")


def wait_healthy(server: subprocess.Popen, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the app exited with {server.returncode}")
        with contextlib.suppress(OSError):
            url = f"http://127.0.0.1:{port}/_stcore/health"
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    return
        time.sleep(0.1)
    raise SystemExit(f"the app did not answer within {timeout:g} s")


def marks(browser, timeout: float) -> dict:
    """The page's marks once all 20 replications are on screen (ms since the epoch)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bench = browser.evaluate("window.__bench")
        if bench and bench["done"] is not None:
            return bench
        time.sleep(0.1)
    raise SystemExit(f"the app did not show '{DONE_TEXT}' within {timeout:g} s")


def app_round(directory: Path, workers: int) -> dict[str, float]:
    """One fresh app: Run pressed on the default setting, then a return to it once cached."""
    from tests.browser import DevTools

    trace, port = directory / "trace.txt", free_port()
    env = {**os.environ, "PARTNERSIM_APP_TRACE": str(trace)}
    command = [sys.executable, "-m", "experiments.cli", "app", "--port", str(port)]
    command += ["--workers", str(workers), "--out", str(directory / "saved")]
    with (directory / "server.log").open("wb") as log:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    browser = None
    try:
        wait_healthy(server, port)
        browser = DevTools(directory / "profile", directory / "chromium.log")
        browser.open_page(1280, 900)
        browser.send("Page.navigate", {"url": f"http://127.0.0.1:{port}/"})
        browser.wait_for(f"document.body.innerText.includes('0 of {REPLICATIONS} runs cached')", 60)
        wait_idle(server.pid, workers)
        browser.evaluate(OBSERVER)
        sides = {
            "server": lambda: cpu_seconds([server.pid], descendants=False),
            "workers": lambda: cpu_seconds(processes(server.pid)[1:]),
            "browser": lambda: cpu_seconds([browser.process.pid]),
        }
        cpu = {side: seconds() for side, seconds in sides.items()}
        run = "[...document.querySelectorAll('button')].find(b => b.innerText.trim() === 'Run')"
        browser.click(run)
        pressed = marks(browser, 600)
        cpu = {side: seconds() - cpu[side] for side, seconds in sides.items()}
        finished = [float(line.split()[1]) for line in trace.read_text().splitlines()]
        if len(finished) != REPLICATIONS:
            raise SystemExit(f"the app ran {len(finished)} runs, expected {REPLICATIONS}")
        # Away to a setting not run (1 year), and back: drawn from the cache.
        years = "document.querySelector('input[aria-label=\"Years\"]')"
        browser.type_into(years, "1")
        browser.wait_for(  # the 5-year page gone: its charts and its success message
            f"document.body.innerText.includes('0 of {REPLICATIONS} runs cached')"
            " && !document.querySelector('[data-testid=stVegaLiteChart]')"
            f" && !document.body.textContent.includes('{DONE_TEXT}')",
            60,
        )
        browser.evaluate(RESET)
        browser.type_into(years, "5")
        back = marks(browser, 60)
        if len(trace.read_text().splitlines()) != REPLICATIONS:
            raise SystemExit("the return to the cached setting ran runs again")
    finally:
        if browser is not None:
            browser.close()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    return {
        "app": (pressed["done"] - pressed["start"]) / 1000,
        "first run": finished[0] - pressed["start"] / 1000,
        "first numbers": pressed["numbers"] / 1000 - finished[0],
        "first chart": pressed["first"] / 1000 - finished[0],
        "last run to screen": pressed["done"] / 1000 - max(finished),
        "cached": (back["done"] - back["start"]) / 1000,
        "app cpu": sum(cpu.values()),
        "workers": cpu["workers"],
        "server": cpu["server"],
        "browser": cpu["browser"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))  # tests.browser: the browser tests' DevTools client
    columns = ("command", "app", "ratio", "first run", "first numbers", "first chart")
    columns += ("last run to screen",)
    columns += ("cached", "command cpu", "app cpu", "workers", "server", "browser")
    print(
        f"{REPLICATIONS} replications of the app's default setting (Japan, hybrid, 5 years), "
        f"{args.workers} workers; seconds"
    )
    print("round  " + "  ".join(columns))
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_app_") as tmp:
        directory = Path(tmp)
        config = experiment_file(directory)
        for index in range(args.rounds):
            app_dir = directory / f"app{index}"
            app_dir.mkdir()
            if index % 2 == 0:
                command, cpu = command_seconds(config, directory / "out", args.workers)
                row = app_round(app_dir, args.workers)
            else:
                row = app_round(app_dir, args.workers)
                command, cpu = command_seconds(config, directory / "out", args.workers)
            row = {"command": command, "command cpu": cpu, **row, "ratio": row["app"] / command}
            rows.append(row)
            print(f"{index + 1:>5}  " + "  ".join(f"{row[c]:>{len(c)}.3f}" for c in columns))
    medians = {c: statistics.median(r[c] for r in rows) for c in columns}
    print("  med  " + "  ".join(f"{medians[c]:>{len(c)}.3f}" for c in columns))
    print(
        f"on screen: {medians['ratio']:.3f}x the command (target 1.2x); first chart "
        f"{medians['first chart']:.3f} s after the first finished run (target 1 s); "
        f"returning to a cached setting: {medians['cached']:.3f} s"
    )


if __name__ == "__main__":
    main()
