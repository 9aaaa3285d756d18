"""An unattended screen: the page warns a minute before the idle timeout, "Stay signed in" keeps
the session, and without it the page signs out to the sign-in page with its message (15.3).

The browser's clock is Playwright's fake clock; the server's idea of the person's last action is
moved back in the session store (as if they had left the desk), so nothing waits in real time.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from accounts.audit_hooks import SESSION_LAST_SEEN
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)
MINUTE = 60_000


def _left_the_desk(page, seconds_ago: int) -> None:
    key = next(c["value"] for c in page.context.cookies() if c["name"] == settings.SESSION_COOKIE_NAME)
    store = SessionStore(session_key=key)
    store[SESSION_LAST_SEEN] = int(time.time()) - seconds_ago
    store.save()


def test_the_page_warns_keeps_the_session_on_request_and_then_signs_out(page, tenant_a):
    tenant_a.org.idle_timeout_minutes = 5
    tenant_a.org.save()
    page.clock.install()
    page.goto("/login/")
    page.fill("#id_auth-username", tenant_a.staff.email)
    page.fill("#id_auth-password", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=account-menu]")
    warning = page.locator("[data-testid=idle-warning]")
    assert not warning.is_visible()

    # Four minutes and a bit with nobody at the keyboard: the dialog appears with the time left.
    _left_the_desk(page, 5 * 60 - 40)
    page.clock.fast_forward(4 * MINUTE + 15_000)
    page.clock.run_for(2_000)
    warning.wait_for(state="visible")
    page.shot("idle-warning")
    assert "you will be signed out in" in warning.inner_text().lower()

    # "Stay signed in" counts as the person's action: the dialog goes, the session stays.
    page.click("[data-testid=idle-stay]")
    page.clock.run_for(2_000)
    warning.wait_for(state="hidden")
    assert page.evaluate("fetch('/session/status/', {headers: {'X-CareRelay-Background': '1'}})"
                         ".then(r => r.json()).then(d => d.remaining_seconds)") > 4 * 60

    # Unattended again, past the timeout: the page signs out and the sign-in page says why.
    _left_the_desk(page, 5 * 60 + 5)
    page.clock.fast_forward(4 * MINUTE + 15_000)
    page.clock.run_for(2_000)
    page.wait_for_url("**/login/**")
    page.wait_for_selector("text=signed out after 5 minutes without activity")
    page.shot("signed-out")
    # The one expected console line: the status check past the timeout is answered 401.
    assert [e for e in page.console_errors if "status of 401" not in e] == []
