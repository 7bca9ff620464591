"""`partnersim app`: serve the what-if page on this machine.

The command checks its options, then becomes a Streamlit server (the process is replaced,
so stopping it stops the server, and the pool's workers die with it). The server listens
on the loopback address unless told otherwise, opens no browser, watches no files, and
sends no usage statistics; the page's scripts, fonts and charts come from the installed
packages, never from the network.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any

from experiments.cli import MAX_WORKERS, UsageError, directory_path

PAGE = Path(__file__).with_name("page.py")
DEFAULT_PORT = 8501
INSTALL = "pip install 'partnersim[app]'"  # the extra that brings Streamlit


def add_parser(sub: Any) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        "app",
        help="what-if app in the browser: move levers, see ensembles against a baseline",
        description="Serve the what-if page (Streamlit) at http://ADDRESS:PORT: controls for "
        "the market, a starting preset, the style levers and the operations; replications "
        "run on a warm process pool with common random numbers and are drawn against a "
        "pinned baseline as they finish. Ctrl-C stops the server and its workers.",
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (default 8501)")
    parser.add_argument(
        "--address", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument(
        "--workers", type=int, metavar="N", help="worker processes (default: one per core)"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=directory_path,
        default="results/app",
        help="where 'save as' writes policy and experiment files (default results/app)",
    )
    parser.set_defaults(func=cmd_app)
    return parser


def server_options(args: argparse.Namespace) -> dict[str, Any]:
    """Streamlit's options: offline, quiet, no file watching, no browser opened."""
    return {
        "server.port": args.port,
        "server.address": args.address,
        "server.headless": True,
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "browser.gatherUsageStats": False,
        "global.developmentMode": False,
        "client.toolbarMode": "minimal",
        "theme.base": "light",
    }


def cmd_app(args: argparse.Namespace) -> int:
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port: got {args.port}, expected an integer in [1, 65535]")
    if args.workers is not None and not 1 <= args.workers <= MAX_WORKERS:
        raise UsageError(
            f"--workers: got {args.workers}, expected an integer in [1, {MAX_WORKERS}]"
        )
    if importlib.util.find_spec("streamlit") is None:
        raise UsageError(f"app: Streamlit is not installed, expected it: {INSTALL}")
    from streamlit.web import bootstrap

    from experiments.app import page, pool, view

    os.environ["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    os.environ[page.OUT_ENV] = str(Path(args.out).resolve())
    flags = {key.replace(".", "_"): value for key, value in server_options(args).items()}
    bootstrap.load_config_options(flag_options=flags)
    pool.shared(args.workers)  # warm before the first page: spawned, imported, run once
    view.warm_up()  # Altair's schema loaded before the first page, not at its first chart
    bootstrap.run(str(PAGE), False, [], flags)
    return 0
