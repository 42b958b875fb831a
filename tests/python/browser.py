"""A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe), with
the standard library only: load a page, record every request it makes and every console message,
error and exception, evaluate an expression, take a screenshot. Used by the report page's test
and by scripts/report-screenshot."""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
         "--mute-audio", "--remote-debugging-pipe"]


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class PageLoad:
    """What loading one page did."""

    def __init__(self):
        self.requests = []  # URLs the page asked for (its own file first)
        self.console = []   # (level, text) of console calls
        self.errors = []    # exceptions and failed loads, as text


class Chromium:
    def __init__(self, binary=None, width=1280, height=900, timeout=60.0):
        binary = binary or find_chromium()
        if binary is None:
            raise FileNotFoundError("no chromium executable on PATH")
        self.timeout = timeout
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="gpueval-chromium-")
        r, self._to_child = os.pipe()
        self._from_child, w = os.pipe()
        # The browser reads fd 3 and writes fd 4. The child's ends move above 10 first, so that
        # putting them at 3 and 4 cannot clobber one with the other.
        to_child_r = fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10)
        from_child_w = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(r)
        os.close(w)

        def wire():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        # close_fds=False, or the child would close 3 and 4 after preexec_fn. Nothing else
        # leaks: Python's descriptors are close-on-exec, dup2's copies are not.
        self._proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={width},{height}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            close_fds=False, preexec_fn=wire)
        os.close(to_child_r)
        os.close(from_child_w)
        self._buf = b""
        self._next_id = 0
        self._events = []

    # ---- the protocol ---------------------------------------------------------------------

    def _send(self, method, params=None, session=None):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_child, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def _read(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the protocol pipe")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, params=None, session=None):
        wanted = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._events.append(msg)

    def wait_for(self, method, deadline):
        for i, msg in enumerate(self._events):
            if msg.get("method") == method:
                return self._events.pop(i)
        while True:
            msg = self._read(deadline)
            if msg.get("method") == method:
                return msg
            self._events.append(msg)

    # ---- one page ---------------------------------------------------------------------------

    def load(self, url):
        """Opens `url` in a new tab and waits for its load event; returns (session, PageLoad)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target,
                                                      "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        self._events.clear()
        self.call("Page.navigate", {"url": url}, session=session)
        self.wait_for("Page.loadEventFired", time.monotonic() + self.timeout)
        time.sleep(0.3)  # late console messages
        self.call("Runtime.evaluate", {"expression": "1"}, session=session)  # drain events
        load = PageLoad()
        for msg in self._events:
            method, p = msg.get("method"), msg.get("params", {})
            if method == "Network.requestWillBeSent":
                load.requests.append(p["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                load.console.append((p["type"], text))
            elif method == "Runtime.exceptionThrown":
                load.errors.append(p["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and p["entry"]["level"] == "error":
                load.errors.append(p["entry"]["text"])
            elif method == "Network.loadingFailed":
                load.errors.append(f"failed to load: {p.get('errorText')}")
        return session, load

    def evaluate(self, session, expression):
        out = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                        session=session)
        return out["result"].get("value")

    def screenshot(self, session, full_page=True):
        """PNG bytes of the page (all of it, or the viewport)."""
        params = {"format": "png"}
        if full_page:
            height = self.evaluate(session, "document.documentElement.scrollHeight")
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}
            params["captureBeyondViewport"] = True
        return base64.b64decode(self.call("Page.captureScreenshot", params, session=session)
                                ["data"])

    def close(self):
        try:
            self._send("Browser.close")
            self._proc.wait(timeout=10)
        except Exception:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
