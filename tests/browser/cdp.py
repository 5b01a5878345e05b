"""cdp.py - a headless Chromium driven over the DevTools protocol, for the
browser tests of the HTML pages (tests/browser/pages.py).

Starts Debian's /usr/bin/chromium with a fresh profile directory and every
background service off (on a closed network Chromium otherwise waits on
them), attaches to one page, and records what the tests must see: console
errors, uncaught exceptions and every network request. Needs Debian's
python3-websocket (run with /usr/bin/python3).
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import websocket

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-extensions",
    "--disable-dev-shm-usage", "--disable-default-apps", "--mute-audio",
    "--hide-scrollbars", "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


class CdpError(Exception):
    pass


class Browser:
    """One Chromium with one page. Use as a context manager."""

    def __init__(self, binary="/usr/bin/chromium", width=1280, height=900,
                 timeout=60):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="poolscout-chromium-")
        self.log = open(os.path.join(self.profile, "stderr.log"), "wb")
        self.proc = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, "--user-data-dir=" + self.profile,
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            start_new_session=True)
        self.next_id = 0
        self.events = []
        self.ws = None
        try:
            self._attach(width, height)
        except Exception:
            self.close()
            raise

    def _attach(self, width, height):
        self.ws = websocket.create_connection(
            self._browser_url(), timeout=self.timeout, suppress_origin=True)
        target = self.send("Target.createTarget", {"url": "about:blank"})
        self.session = self.send("Target.attachToTarget", {
            "targetId": target["targetId"], "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(domain + ".enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": height, "deviceScaleFactor": 1,
            "mobile": False}, session=True)

    def _browser_url(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise CdpError("chromium exited with status %d: %s" % (
                    self.proc.returncode, self.stderr_tail()))
            try:
                with open(port_file) as f:
                    port, path = f.read().split("\n")[:2]
                if port and path:
                    return "ws://127.0.0.1:%s%s" % (port, path)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise CdpError("chromium did not open its DevTools port in %d s: %s"
                       % (self.timeout, self.stderr_tail()))

    def stderr_tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-600:].decode(errors="replace")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.ws:
            try:
                self.send("Browser.close")
            except Exception:
                pass
        try:
            self.proc.wait(timeout=10 if self.ws else 0.5)
        except subprocess.TimeoutExpired:
            # its own process group: the renderers and helpers go too
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.ws:
            self.ws.close()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # ---- the protocol ---------------------------------------------------

    def send(self, method, params=None, session=False):
        """Sends a command and returns its result; events that arrive
        meanwhile are kept in self.events."""
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + self.timeout
        while time.time() < deadline:
            reply = self._receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CdpError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
        raise CdpError("%s: no answer in %d s" % (method, self.timeout))

    def _receive(self):
        msg = json.loads(self.ws.recv())
        if "method" in msg:
            self.events.append(msg)
        return msg

    def wait_event(self, method, since=0, timeout=None):
        """Returns the first event named method received after the first
        `since` events (waiting for it when it has not come yet)."""
        deadline = time.time() + (timeout or self.timeout)
        i = since
        while True:
            while i < len(self.events):
                if self.events[i]["method"] == method:
                    return self.events[i]
                i += 1
            if time.time() > deadline:
                raise CdpError("no %s in %d s" % (method, timeout or self.timeout))
            self._receive()

    # ---- what the tests do ------------------------------------------------

    def open(self, url):
        since = len(self.events)
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_event("Page.loadEventFired", since)

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        r = self.send("Runtime.evaluate", {
            "expression": expression, "returnByValue": True,
            "awaitPromise": True}, session=True)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise CdpError("evaluating %r: %s" % (
                expression[:80], d.get("exception", {}).get("description", d)))
        return r["result"].get("value")

    def wait_for(self, expression, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.evaluate(expression):
                return True
            time.sleep(0.05)
        return False

    def center(self, selector):
        """Scrolls the element into view; its centre in the viewport."""
        box = self.evaluate(
            "(() => { const e = document.querySelector(%s);"
            " if (!e) return null; e.scrollIntoView({block: 'center'});"
            " const r = e.getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
            % json.dumps(selector))
        if not box:
            raise CdpError("no element %s" % selector)
        return box

    def _mouse(self, kind, x, y, **extra):
        params = {"type": kind, "x": x, "y": y}
        params.update(extra)
        self.send("Input.dispatchMouseEvent", params, session=True)

    def hover(self, selector):
        x, y = self.center(selector)
        self._mouse("mouseMoved", x, y)

    def click(self, selector):
        """A real mouse click in the middle of the element."""
        x, y = self.center(selector)
        self._mouse("mouseMoved", x, y)
        self._mouse("mousePressed", x, y, button="left", clickCount=1)
        self._mouse("mouseReleased", x, y, button="left", clickCount=1)

    def type_into(self, selector, text):
        self.click(selector)
        self.send("Input.insertText", {"text": text}, session=True)

    def screenshot(self, path, height=None):
        """Saves a PNG of the page from its top, height px tall (or the
        whole page)."""
        self.evaluate("document.activeElement && document.activeElement.blur();"
                      " window.scrollTo(0, 0)")
        self._mouse("mouseMoved", 0, 0)
        full = self.evaluate("[document.documentElement.scrollWidth,"
                             " document.documentElement.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": full[0],
                "height": min(height or full[1], full[1]), "scale": 1}
        r = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True, "clip": clip},
            session=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    # ---- what the page did ---------------------------------------------------

    def console_errors(self, since=0):
        """Console errors, uncaught exceptions and error log entries (of
        the events after the first `since`)."""
        out = []
        for e in self.events[since:]:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and \
                    p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], " ".join(
                    str(a.get("value", a.get("description", "")))
                    for a in p.get("args", []))))
            elif e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: %s" % d.get("exception", {}).get(
                    "description", d.get("text")))
            elif e["method"] == "Log.entryAdded" and \
                    p["entry"]["level"] == "error":
                out.append("log: %s (%s)" % (p["entry"]["text"],
                                             p["entry"].get("url", "")))
        return out

    def requests(self, since=0):
        """URLs of every request made (after the first `since` events)."""
        return [e["params"]["request"]["url"] for e in self.events[since:]
                if e["method"] == "Network.requestWillBeSent"]
