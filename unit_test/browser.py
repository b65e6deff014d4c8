"""Headless Chromium for the tests that look at the sandbox's web page: Debian's `chromium` package,
installed on first use when missing (as root with apt-get), else the reason it cannot be had."""
import os
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser

import apt_install

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--mute-audio"]
_FOUND = {}


def chromium():
    """(path to the browser, None) or (None, why there is none)."""
    if "result" not in _FOUND:
        _FOUND["result"] = _find_or_install()
    return _FOUND["result"]


def _find_or_install():
    try:
        return apt_install.ensure("chromium", _found), None
    except apt_install.Missing as exc:
        return None, str(exc)


def _found():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(url, wait_ms=6000):
    """The page's DOM after `wait_ms` of (virtual) time: its scripts and timers run, its fetches answered."""
    browser, why = chromium()
    if browser is None:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={wait_ms}",
                               "--dump-dom", url], capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or "<html" not in done.stdout:
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-800:]}")
    return done.stdout


class Elements(HTMLParser):
    """Every element's attributes and its text, in document order: [(tag, attrs, text)]."""

    def __init__(self, html):
        super().__init__()
        self.found, self._open = [], []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        entry = [tag, dict(attrs), ""]
        self.found.append(entry)
        if tag not in ("meta", "link", "br", "img", "input"):
            self._open.append(entry)

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for entry in self._open:
            entry[2] += data

    def by_id(self, element_id):
        return next(((attrs, text) for tag, attrs, text in self.found if attrs.get("id") == element_id), None)


def screenshot(url, path, width=1200, height=2000):
    """A PNG of the page at `path`, and the console messages chromium logged while showing it."""
    browser, why = chromium()
    if browser is None:
        raise RuntimeError(why)
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
                               "--hide-scrollbars", f"--window-size={width},{height}", f"--screenshot={path}", url],
                              capture_output=True, text=True, timeout=120)
    if done.returncode != 0 or not os.path.exists(path):
        raise AssertionError(f"chromium exited {done.returncode}: {done.stderr[-800:]}")
    return [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
