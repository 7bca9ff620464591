"""Headless Chromium for the browser tests, driven over the DevTools protocol on a pipe.

`DevTools` starts Debian's `chromium` with no network of its own (no background requests,
no sync, no component updates), opens pages at a given window size, evaluates JavaScript,
types and clicks as a user would, and records what each page logged, requested and failed
to load, so a test can assert that nothing failed and nothing left the machine. CHROMIUM
is None where chromium is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class DevTools:
    """Chromium driven over --remote-debugging-pipe: commands on fd 3, replies on fd 4."""

    def __init__(self, profile: Path, log: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child, before exec: the pipe ends become fds 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
                pass_fds=(3, 4),
                preexec_fn=wire,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None
        self.target: str | None = None

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("chromium did not answer")
            if select.select([self._from_chrome], [], [], left)[0]:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._message(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open_page(self, width: int, height: int) -> str:
        """A new tab of the given size, which later commands go to; returns its session id."""
        self.target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": self.target, "flatten": True}
        )["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable")
        self.resize(width, height)
        return self.session

    def resize(self, width: int, height: int) -> None:
        """The current tab's window size, in CSS pixels."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def close_page(self) -> None:
        """Close the current tab; its recorded events stay."""
        target, self.session = self.target, None
        self.send("Target.closeTarget", {"targetId": target})

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30, what: str = "") -> Any:
        """Poll the page until `expression` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"after {timeout:g} s: {what or expression}")
            time.sleep(0.1)

    def click_at(self, x: float, y: float) -> None:
        """A left click at the page's (x, y), as a mouse would make it."""
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent",
                {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1},
            )

    def click(self, selector_js: str) -> None:
        """Scroll the element `selector_js` evaluates to into view and click its centre."""
        x, y = self.evaluate(
            f"(() => {{ const e = {selector_js}; e.scrollIntoView({{block: 'center'}});"
            " const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2];"
            " })()"
        )
        self.click_at(x, y)

    def type_into(self, selector_js: str, text: str) -> None:
        """Replace the text of the input `selector_js` evaluates to, as typed, then Enter."""
        self.evaluate(f"(() => {{ const e = {selector_js}; e.focus(); e.select(); }})()")
        self.send("Input.insertText", {"text": text})
        enter = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", "text": "\r", **enter})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **enter})

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """The page as a PNG (the whole page with `full_page`, else the window)."""
        shot = self.send(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": full_page},
            timeout=60,
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(OSError, RuntimeError, TimeoutError):
            self.send("Browser.close", timeout=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)

    def _events(self, session: str | None) -> list[dict[str, Any]]:
        """The events recorded (of one tab's session, if given)."""
        return [e for e in self.events if session is None or e.get("sessionId") == session]

    def console_errors(self, session: str | None = None) -> list[str]:
        errors = []
        for event in self._events(session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                errors.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                errors.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                errors.append(params["entry"].get("text", "")[:500])
        return errors

    def requested_urls(self, session: str | None = None) -> list[str]:
        """Every URL the page asked for: its requests and its WebSockets."""
        return [
            e["params"]["request"]["url"] if "request" in e["params"] else e["params"]["url"]
            for e in self._events(session)
            if e.get("method") in ("Network.requestWillBeSent", "Network.webSocketCreated")
        ]

    def failed_requests(self, session: str | None = None) -> list[str]:
        """'URL: reason' for each request that failed or was answered with an HTTP error."""
        events = self._events(session)
        urls = {
            e["params"]["requestId"]: e["params"]["request"]["url"]
            for e in events
            if e.get("method") == "Network.requestWillBeSent"
        }
        failed = []
        for event in events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.loadingFailed":
                url = urls.get(params["requestId"], params["requestId"])
                failed.append(f"{url}: {params.get('errorText')}")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                failed.append(f"{params['response']['url']}: HTTP {params['response']['status']}")
        return failed
