"""Every committed report and the index, opened in a real headless Chromium at 1280 px.

For every page: every image loaded (natural width > 0), no element wider than the viewport, no traceback,
warning or stderr output, a title other than "Notebook"; the index's links resolve. A screenshot of each
page's first screen is saved under ``.artefacts/browser/`` (gitignored; the path is printed).

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages separated
by NUL bytes on file descriptors 3 and 4), so no Python package is needed beyond the standard library. The
system package ``chromium`` is what ``.ci/run`` installs when it is missing; when no Chromium executable can be
found the test skips with the reason, except in CI (environment variable ``CI`` set), where it fails.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from analysis.core.paths import REPORTS_DIR, ROOT

VIEWPORT = (1280, 900)
ARTEFACTS = ROOT / ".artefacts" / "browser"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
PAGES = sorted(REPORTS_DIR.glob("*/*.html")) + [REPORTS_DIR / "index.html"]

# what a page reports about itself, computed in the browser after it has loaded and laid out
CHECK_JS = r"""
(() => {
  const vw = document.documentElement.clientWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll('*')) {
    // not rendered (inside a folded code cell: content-visibility hidden, or display none): nothing a reader sees
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > vw + 1 || r.left < -1) {
      wide.push(`${el.tagName.toLowerCase()}.${(el.className && el.className.baseVal === undefined ? el.className : '')
        .toString().split(' ').slice(0, 2).join('.')} right=${Math.round(r.right)}: ` +
        (el.innerText || '').slice(0, 60).replace(/\s+/g, ' '));
    }
  }
  // a polars dtype row under a table's header ("str", "f64"), or rows / columns cut with an ellipsis
  const dtype = /^(str|f64|f32|i64|i32|i16|i8|u64|u32|u8|bool|date|datetime\[.*\]|duration\[.*\]|list\[.*\]|cat|null|object)?$/;
  let dtypeRows = 0, cutCells = 0;
  for (const tr of document.querySelectorAll('table tr')) {
    const cells = [...tr.children].map(c => c.innerText.trim());
    if (cells.some(c => c) && cells.every(c => dtype.test(c))) dtypeRows++;
    if (cells.some(c => c === '…' || c === '...')) cutCells++;
  }
  const text = document.body.innerText;
  const bad = (text.match(/Traceback \(most recent call last\)|\b\w*(Warning|Error):[^\n]{0,80}|PosixPath\(/g) || []);
  return {
    title: document.title,
    scrollWidth: document.documentElement.scrollWidth, viewport: vw,
    images: document.images.length,
    brokenImages: [...document.images].filter(i => !i.complete || i.naturalWidth === 0)
                   .map(i => (i.getAttribute('src') || '').slice(0, 80)),
    wide: wide.slice(0, 8), nWide: wide.length,
    stderr: document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]').length,
    badText: bad.slice(0, 5), dtypeRows, cutCells,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  };
})()
"""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """A headless Chromium driven over the DevTools protocol on a pipe (fd 3: commands in, fd 4: replies out)."""

    def __init__(self, exe: str):
        to_chrome_r, self._w = os.pipe()
        self._r, from_chrome_w = os.pipe()

        # inheritable, because when a pipe end already is fd 3, dup2 onto itself would keep close-on-exec
        os.set_inheritable(to_chrome_r, True)
        os.set_inheritable(from_chrome_w, True)

        def fds():  # in the child: the pipe ends on fds 3 and 4, as --remote-debugging-pipe expects
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.proc = subprocess.Popen(
            [exe, "--headless=new", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
             f"--window-size={VIEWPORT[0]},{VIEWPORT[1]}", f"--user-data-dir={ARTEFACTS / 'profile'}", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._id = 0
        self.events: list[dict] = []

    def _read(self, timeout: float) -> dict:
        import select

        end = time.monotonic() + timeout
        while b"\0" not in self._buf:
            left = end - time.monotonic()
            if left <= 0 or not select.select([self._r], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer over the DevTools pipe")
            chunk = os.read(self._r, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60) -> dict:
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str, session: str, timeout: float = 60) -> dict:
        for i, e in enumerate(self.events):
            if e.get("method") == method and e.get("sessionId") == session:
                return self.events.pop(i)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            e = self._read(end - time.monotonic())
            if e.get("method") == method and e.get("sessionId") == session:
                return e
            self.events.append(e)
        raise TimeoutError(f"no {method} within {timeout} s")

    def open(self, url: str) -> tuple[dict, bytes]:
        """Load ``url`` at the viewport size, let it lay out, and return (the page's checks, a PNG of its first
        screen)."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        try:
            self.send("Emulation.setDeviceMetricsOverride", {"width": VIEWPORT[0], "height": VIEWPORT[1],
                                                              "deviceScaleFactor": 1, "mobile": False}, s)
            self.send("Page.enable", {}, s)
            self.send("Page.navigate", {"url": url}, s)
            self.wait_event("Page.loadEventFired", s, timeout=120)
            # images decoded and fonts laid out before measuring
            self.send("Runtime.evaluate", {"expression": "Promise.all([...document.images].map(i => i.decode()"
                                           ".catch(() => null))).then(() => document.fonts.ready).then(() => 1)",
                                           "awaitPromise": True, "returnByValue": True}, s)
            res = self.send("Runtime.evaluate", {"expression": CHECK_JS, "returnByValue": True}, s)
            if "exceptionDetails" in res:
                raise RuntimeError(f"the page check failed in {url}: {res['exceptionDetails']}")
            shot = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False}, s)
            return res["result"]["value"], base64.b64decode(shot["data"])
        finally:
            self.send("Target.closeTarget", {"targetId": target})

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=10)
        except Exception:  # noqa: BLE001 - closing anyway
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._w)
        os.close(self._r)


def no_chromium(env) -> None:
    """Without Chromium: skip on a developer's machine, but FAIL in CI (``CI`` set, as ``.ci/run`` and CI services
    do), where a quietly failed install must not pass as a skipped test."""
    why = (f"no Chromium found on PATH (looked for {', '.join(CANDIDATES)}); `.ci/run` installs the system "
           "package `chromium` (apt-get install chromium)")
    if env.get("CI"):
        pytest.fail(f"{why}, and CI is set, so the reports were not checked in a browser")
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    exe = find_chromium()
    if exe is None:
        no_chromium(os.environ)
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    b = Browser(exe)
    yield b
    b.close()


def page_problems(info: dict) -> list[str]:
    """Everything a reader would meet that the issue lists as broken, as sentences (empty: the page is fine)."""
    out = []
    if not info["title"] or info["title"].strip() == "Notebook":
        out.append(f"its title is {info['title']!r}, not the study's")
    if info["brokenImages"]:
        out.append(f"{len(info['brokenImages'])} image(s) did not load: {info['brokenImages']}")
    if info["scrollWidth"] > info["viewport"] + 1 or info["nWide"]:
        out.append(f"{info['nWide']} element(s) wider than the {info['viewport']} px viewport (page scroll width "
                   f"{info['scrollWidth']} px), e.g. {info['wide'][:3]}")
    if info["stderr"]:
        out.append(f"{info['stderr']} output(s) written to stderr (warnings or tracebacks)")
    if info["dtypeRows"]:
        out.append(f"{info['dtypeRows']} table row(s) of dtypes (str, f64, ...) under a header")
    if info["cutCells"]:
        out.append(f"{info['cutCells']} table row(s) cut with an ellipsis")
    if info["badText"]:
        out.append(f"traceback, warning or machine-path text: {info['badText']}")
    return out


def test_a_missing_chromium_fails_in_ci_and_skips_elsewhere():
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        no_chromium({"CI": "true"})
    with pytest.raises(pytest.skip.Exception, match="no Chromium found"):
        no_chromium({})


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(REPORTS_DIR).as_posix() for p in PAGES])
def test_every_report_reads_in_a_real_browser(browser, page):
    assert page.exists(), f"{page.relative_to(ROOT)} is missing: run `dvc repro`"
    info, png = browser.open(page.resolve().as_uri())
    shot = ARTEFACTS / (page.relative_to(REPORTS_DIR).as_posix().replace("/", "__").removesuffix(".html") + ".png")
    shot.write_bytes(png)
    print(f"first screen of {page.relative_to(ROOT)}: {shot.relative_to(ROOT)}")
    problems = page_problems(info)
    if page.name == "index.html":
        missing = []
        for href in info["links"]:
            u = urlparse(href)
            if u.scheme == "file" and not Path(unquote(u.path)).exists():
                missing.append(href)
        assert info["links"], "the index links no report"
        if missing:
            problems.append(f"links that do not resolve: {missing}")
    assert not problems, f"{page.relative_to(ROOT)}: " + "; ".join(problems)


def test_the_checks_can_fail(browser, tmp_path):
    """A page with every fault the test looks for is caught on each of them (the test is able to fail)."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><head><title>Notebook</title></head><body><img src='missing.png'>"
                   "<table><tr><td style='white-space:nowrap'>" + "wide " * 400 + "</td></tr></table>"
                   "<table><tr><th>a</th><th>b</th></tr><tr><td>str</td><td>f64</td></tr><tr><td>…</td><td>…</td>"
                   "</tr></table><pre>Traceback (most recent call last):\nUserWarning: something</pre>"
                   "<div data-mime-type='application/vnd.jupyter.stderr'>x</div></body></html>")
    info, png = browser.open(bad.as_uri())
    problems = " | ".join(page_problems(info))
    for needle in ("its title is 'Notebook'", "image(s) did not load", "wider than the 1280 px viewport",
                   "output(s) written to stderr", "Traceback (most recent call last)", "row(s) of dtypes",
                   "cut with an ellipsis"):
        assert needle in problems, needle
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    good = tmp_path / "good.html"
    good.write_text("<html><head><title>A study</title></head><body><p>Fine.</p></body></html>")
    assert page_problems(browser.open(good.as_uri())[0]) == []
