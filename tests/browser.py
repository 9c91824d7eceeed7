"""Headless Chromium for tests, driven over the DevTools protocol on a pipe (no extra packages).

Chromium started with ``--remote-debugging-pipe`` reads protocol commands from file
descriptor 3 and writes replies and events to descriptor 4, each message a JSON object
followed by a NUL byte. That is all a test needs: open a page, collect what went wrong while
it loaded (console errors, uncaught exceptions, dialogs such as ``alert``, network requests),
ask the DOM questions, and take a screenshot.

    browser = Browser.start(tmp_path)          # None when Debian's chromium is not installed
    visit = browser.visit(tmp_path / "report.html", screenshot=tmp_path / "report.png",
                          evaluate={"svgs": "document.querySelectorAll('svg').length"})
    assert visit.errors == [] and visit.values["svgs"] > 0
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
    "--remote-debugging-pipe",
)
WINDOW = (1280, 2400)


@dataclass
class Visit:
    """What happened while a page loaded, and the answers to the questions asked of it."""

    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    dialogs: list[str] = field(default_factory=list)  # alert / confirm / prompt messages
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    values: dict[str, Any] = field(default_factory=dict)


class Browser:
    """One headless Chromium process; each visit opens the page in a fresh tab."""

    def __init__(self, process: subprocess.Popen, commands: int, events: int) -> None:
        self._process = process
        self._commands = commands
        self._events = events
        self._buffer = b""
        self._next_id = 0
        self._pending: list[dict[str, Any]] = []

    @classmethod
    def start(cls, profile: Path) -> Browser | None:
        """Launch Chromium with a throw-away profile in ``profile``; None if it is absent."""
        executable = shutil.which("chromium")
        if executable is None:
            return None
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()

        def wire_descriptors() -> None:  # in the child: 3 is its input, 4 its output
            # Copies above 9 first, so that wiring 3 cannot clobber a pipe end that sits on 4.
            source = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            sink = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(source, 3)  # dup2 makes them inheritable: Chromium gets exactly these
            os.dup2(sink, 4)
            os.close(source)
            os.close(sink)

        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_descriptors,
            close_fds=False,  # Python's own descriptors are not inheritable (PEP 446)
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        return cls(process, to_browser_write, from_browser_read)

    def close(self) -> None:
        with contextlib.suppress(OSError, TimeoutError, RuntimeError):
            self._send("Browser.close")
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._commands)
        os.close(self._events)

    def visit(
        self,
        page: Path | str,
        *,
        screenshot: Path | None = None,
        evaluate: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Visit:
        """Load ``page`` (a file or a URL) and report errors, dialogs, requests and answers.

        ``evaluate`` maps a name to a JavaScript expression evaluated after the load event;
        its JSON value lands in ``Visit.values[name]``.
        """
        url = Path(page).resolve().as_uri() if isinstance(page, Path) else page
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._send(f"{domain}.enable", session=session)
        width, height = WINDOW
        self._send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        visit = Visit()
        self._send("Page.navigate", {"url": url}, session=session)
        self._until_loaded(session, visit, time.monotonic() + timeout)
        for name, expression in (evaluate or {}).items():
            reply = self._send(
                "Runtime.evaluate",
                {"expression": expression, "returnByValue": True},
                session=session,
            )
            visit.values[name] = reply["result"].get("value")
        if screenshot is not None:
            shot = self._send(
                "Page.captureScreenshot",
                {"format": "png", "captureBeyondViewport": True},
                session=session,
            )
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        self._drain(session, visit)
        self._send("Target.closeTarget", {"targetId": target})
        return visit

    def _until_loaded(self, session: str, visit: Visit, deadline: float) -> None:
        loaded = False
        while not loaded:
            event = self._receive(deadline)
            if event.get("sessionId") == session:
                loaded = self._record(event, visit, session)
        # Give scripts that run right after load (timers, handlers) a moment to fail.
        settle = time.monotonic() + 0.3
        while True:
            try:
                event = self._receive(settle)
            except TimeoutError:
                break
            if event.get("sessionId") == session:
                self._record(event, visit, session)

    def _drain(self, session: str, visit: Visit) -> None:
        for event in self._pending:
            if event.get("sessionId") == session:
                self._record(event, visit, session)
        self._pending.clear()

    def _record(self, event: dict[str, Any], visit: Visit, session: str) -> bool:
        """File one event under the visit; True for the page's load event."""
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            visit.errors.append("console." + params["type"] + ": " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            description = details.get("exception", {}).get("description", details["text"])
            visit.errors.append("uncaught: " + description)
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            visit.errors.append("log: " + params["entry"]["text"])
        elif method == "Page.javascriptDialogOpening":
            visit.dialogs.append(params["message"])
            self._write("Page.handleJavaScriptDialog", {"accept": True}, session)
        elif method == "Network.requestWillBeSent":
            visit.requests.append(params["request"]["url"])
        return method == "Page.loadEventFired"

    def _write(self, method: str, params: dict[str, Any] | None, session: str | None) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        return self._next_id

    def _send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its reply; events that arrive meanwhile are kept."""
        wanted = self._write(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, keep_events=False)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self._pending.append(message)

    def _receive(self, deadline: float, keep_events: bool = True) -> dict[str, Any]:
        """The next message: a kept event first (when ``keep_events``), else one from the pipe."""
        if keep_events and self._pending:
            return self._pending.pop(0)
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._events], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._events, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe (did it crash?)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)
