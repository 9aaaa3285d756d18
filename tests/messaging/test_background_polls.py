"""The inbox, thread and simulator pages poll in the background; every poll says so.

The idle-timeout middleware ignores requests carrying ``X-CareRelay-Background: 1``, so an
unattended open tab still signs out (HIPAA 164.312(a)(2)(iii)). A poll without the header
would count as a person's activity and keep the session alive for ever.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from tests.messaging.test_inbox_views import make_conversation, thread_url
from tests.messaging.test_simulator_views import choose, sim_channel

STATIC_JS = Path(__file__).resolve().parents[2] / "static" / "js"
POLLING_SCRIPTS = ("inbox-live.js", "simulator.js")
REQUEST_CALL = re.compile(r"\bfetch\s*\(|XMLHttpRequest|\$\.ajax|navigator\.sendBeacon")


def _headers_object(source: str) -> str:
    match = re.search(r"var POLL_HEADERS = (\{[^}]*\});", source)
    assert match, "the script declares its poll headers once (POLL_HEADERS)"
    return match.group(1)


@pytest.mark.parametrize("name", POLLING_SCRIPTS)
def test_every_request_a_polling_script_makes_is_marked_background(name):
    source = (STATIC_JS / name).read_text()
    assert '"X-CareRelay-Background": "1"' in _headers_object(source)
    calls = [m.start() for m in REQUEST_CALL.finditer(source)]
    assert calls, f"{name} polls: it must make requests"
    for start in calls:
        call = source[start:source.index(")", source.index("{", start)) + 1]
        assert call.startswith("fetch("), f"{name}: only fetch() is used for polls"
        assert "headers: POLL_HEADERS" in call, f"{name}: a request without the background header: {call}"


@pytest.mark.django_db
def test_the_pages_that_poll_load_those_scripts(tenant_a):
    """The scripts checked above are the ones the polling pages actually run."""
    conversation = make_conversation(tenant_a)
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("staff")
    choose(client, channel)
    pages = {
        "inbox-live.js": [reverse("messaging:inbox"), thread_url(conversation)],
        "simulator.js": [reverse("messaging:simulator")],
    }
    for script, urls in pages.items():
        for url in urls:
            page = client.get(url).content.decode()
            assert f"js/{script}" in page, f"{url} does not load {script}"
            # No other script on these pages polls on its own.
            loaded = set(re.findall(r'src="[^"]*/js/([\w.-]+?)(?:\.[0-9a-f]{8,})?\.js"', page))
            assert "app" in loaded
            for other in loaded - {s.removesuffix(".js") for s in POLLING_SCRIPTS}:
                other_source = (STATIC_JS / f"{other}.js").read_text()
                if other == "accounts-idle":
                    continue  # the idle warning's own keep-alive belongs to accounts
                assert not REQUEST_CALL.search(other_source), f"{other}.js makes requests on {url}"
