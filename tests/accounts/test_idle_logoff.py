"""Automatic logoff: only a person's actions keep a session; polls do not (issue 15.3)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import time_machine

from audit import AuditAction
from tests.accounts.conftest import events

pytestmark = pytest.mark.django_db

BACKGROUND = {"HTTP_X_CARERELAY_BACKGROUND": "1"}
START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


def test_background_polls_do_not_extend_the_session(tenant_a):
    with time_machine.travel(START, tick=False) as clock:
        client = tenant_a.client_for("staff")
        assert client.get("/").status_code == 200
        for _ in range(16):  # a poll every minute for 16 minutes, nobody at the keyboard
            clock.shift(60)
            client.get("/session/status/", **BACKGROUND)
        response = client.get("/", follow=True)
    assert "signed out after 15 minutes without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert events(tenant_a.org, AuditAction.LOGOUT)[0].detail == {"reason": "idle"}


def test_a_background_poll_past_the_timeout_is_answered_401_and_the_next_page_says_why(tenant_a):
    with time_machine.travel(START, tick=False) as clock:
        client = tenant_a.client_for("staff")
        client.get("/")
        clock.shift(15 * 60 + 1)
        poll = client.get("/session/status/", **BACKGROUND)
        assert poll.status_code == 401 and poll["X-CareRelay-Signed-Out"] == "1"
        page = client.get("/", follow=True)
    assert "signed out after 15 minutes without activity" in page.content.decode()


def test_a_persons_request_extends_the_session(tenant_a):
    with time_machine.travel(START, tick=False) as clock:
        client = tenant_a.client_for("staff")
        client.get("/")
        clock.shift(10 * 60)
        assert client.post("/session/ping/").status_code == 204  # the page saw keys or clicks
        clock.shift(10 * 60)  # 20 minutes after sign-in, 10 after the person acted
        assert client.get("/").status_code == 200
        clock.shift(10 * 60)
        assert client.get("/contacts/").status_code == 200


def test_the_status_tells_the_page_the_time_left_without_counting_as_activity(tenant_a):
    with time_machine.travel(START, tick=False) as clock:
        client = tenant_a.client_for("staff")
        client.get("/")
        clock.shift(14 * 60)
        first = client.get("/session/status/", **BACKGROUND).json()
        clock.shift(30)
        second = client.get("/session/status/", **BACKGROUND).json()
    assert first == {"signed_in": True, "remaining_seconds": 60, "warn_seconds": 60}
    assert second["remaining_seconds"] == 30


def test_signed_in_pages_carry_the_warning_dialog_and_its_script(tenant_a):
    page = tenant_a.client_for("staff").get("/").content.decode()
    assert 'data-testid="idle-warning"' in page and "data-idle-stay" in page
    assert 'data-idle-status="/session/status/"' in page and 'data-idle-warning="60"' in page
    assert "/static/js/accounts-idle.js" in page
    script = (Path(__file__).resolve().parents[2] / "static/js/accounts-idle.js").read_text()
    # The script asks for the time left as a background request and warns before signing out.
    assert '"X-CareRelay-Background": "1"' in script and "showWarning" in script
    assert not re.search(r"<script>(?!</script>)", page)  # nothing inline (CSP)


def test_signed_out_pages_have_no_idle_dialog(client):
    assert 'data-testid="idle-warning"' not in client.get("/login/").content.decode()
