"""Browser tests: Debian's Chromium driven by Playwright against pytest-django's live server.

Screenshots: `page.shot("step")` keeps a picture of each step; on failure, the steps and a
final screenshot stay under test-results/<test name>/ (they are removed when the test passes).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
RESULTS = Path(__file__).resolve().parents[2] / "test-results"


def open_sending_window(organization) -> None:
    """Make the organisation's campaign sending window span the present hour, in UTC.

    The live server and the browser run on the real clock (a fake one would expire the
    browser's cookies), so a campaign sent from the browser must not meet quiet hours,
    whatever time of day the suite runs: CI once ran this at 21:05 UTC, after the default
    window's 21:00 end, and the message was deferred to the morning."""
    import datetime

    from django.utils import timezone
    from django_scopes import scope

    from campaigns.models import CampaignSettings

    hour = timezone.now().astimezone(datetime.UTC).hour
    with scope(organization=organization):
        CampaignSettings.objects.update_or_create(
            organization=organization,
            defaults={"send_window_start": datetime.time((hour - 1) % 24),
                      "send_window_end": datetime.time((hour + 2) % 24)})


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


# Module scope: Playwright's loop must not outlive the browser tests of one module.
@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: run 'apt-get install chromium'.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop alive in this thread while the browser is
    # open; the ORM calls of test set-up and teardown are still synchronous, so Django's
    # async-safety guard is told so — for exactly the browser's lifetime, never beyond
    # (the variable would also leak into other tests' subprocesses).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                                 headless=True)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


class StepPage:
    """A Playwright page that names its screenshots by step."""

    def __init__(self, page, folder: Path):
        self._page = page
        self.folder = folder
        self._n = 0

    def shot(self, step: str) -> None:
        self._n += 1
        self.folder.mkdir(parents=True, exist_ok=True)
        self._page.screenshot(path=str(self.folder / f"{self._n:02d}-{step}.png"), full_page=True)

    def __getattr__(self, name):
        return getattr(self._page, name)


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    raw = context.new_page()
    errors: list[str] = []
    raw.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    folder = RESULTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    wrapped = StepPage(raw, folder)
    wrapped.console_errors = errors
    yield wrapped
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    if failed:
        wrapped.shot("failure")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    context.close()
