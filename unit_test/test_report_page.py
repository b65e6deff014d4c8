"""The report's HTML page as a person sees it: opened in headless Chromium, screenshot kept as an
artifact of the run, each chart drawn (its colours present, in order down the page), no console
message."""

import json
import os
import tempfile

import pytest
from browser import chromium, screenshot
from conftest import run_command, sandbox_env

ARTIFACTS = os.path.join(tempfile.gettempdir(), "pagerduty-plugin-artifacts")
# the charts' own colours (reports/charts.py): MTTR line, bars of incidents, sleep-hour interruptions
MTTR, INCIDENTS, SLEEP = (0xc0, 0x56, 0x21), (0x2b, 0x6c, 0xb0), (0x55, 0x3c, 0x9a)


def rows_with(image, colour, tolerance=12):
    """The y of every pixel row holding at least one pixel of this colour."""
    width, height = image.size
    pixels = image.load()
    found = []
    for y in range(height):
        if any(all(abs(a - b) <= tolerance for a, b in zip(pixels[x, y][:3], colour)) for x in range(0, width, 2)):
            found.append(y)
    return found


@pytest.fixture
def chromium_browser():
    found, why = chromium()
    if found is None:
        pytest.skip(f"headless Chromium cannot be had: {why}")
    return found


@pytest.mark.slow
def test_the_report_page_in_chromium(sandbox, chromium_browser, tmp_path):
    image_module = pytest.importorskip("PIL.Image")  # Pillow comes with matplotlib (the report extra)
    # one resolved incident a minute over the last 25 hours: every hour of the day has some, so each band
    # (sleep 22:00-08:00 included) has bars whatever the hour the test runs at (the demo seed's few incidents
    # sit at fixed offsets from now: at midday none falls in sleep hours)
    sandbox.seed_incidents(1500, status="resolved")
    out = tmp_path / "report"
    done = run_command(["report", "--out", str(out)], env=sandbox_env(sandbox), timeout=120)
    assert done.code == 0, done.stderr
    assert json.loads(done.stdout)["count"] > 0
    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "report-page.png")
    console = screenshot("file://" + str(out / "report.html"), shot)
    print(f"\nscreenshot of the report page: {shot}")
    assert console == []
    image = image_module.open(shot).convert("RGB")
    mttr, incidents, sleep = (rows_with(image, c) for c in (MTTR, INCIDENTS, SLEEP))
    assert len(mttr) > 20 and len(incidents) > 40 and len(sleep) > 20, (len(mttr), len(incidents), len(sleep))
    assert min(mttr) < max(mttr) < max(incidents) < max(sleep), "the charts in the page's order"


def test_a_console_error_is_seen(chromium_browser, tmp_path):
    """The broken control: a page that logs an error is caught by the same check."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><script>console.error("broken on purpose")</script></body></html>')
    assert any("broken on purpose" in line for line in screenshot("file://" + str(page), str(tmp_path / "b.png"),
                                                                  width=400, height=300))
