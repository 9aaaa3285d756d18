"""Inbound handlers are only queued for organisations someone listens to (messaging/interest.py).

The webhook asks the shared cache whether any handler (intake, campaign replies, partner
endpoints) wants this organisation's messages; a change that turns one on must be seen by the
very next message, never after a cache lifetime.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django_scopes import scope

from accounts.actor import actor_for
from accounts.event_webhooks import services as endpoints
from messaging import interest, tasks
from messaging.inbound import (
    has_listeners,
    interest_changed,
    register_inbound_handler,
    unregister_inbound_handler,
)
from tests.intake.helpers import build
from tests.messaging.backend_helpers import PATIENT, make_channel, post_simulator


@pytest.fixture
def queued(monkeypatch):
    """The message ids the webhook handed to the inbound-handlers task."""
    seen: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_inbound_handlers", lambda org_id, message_id: seen.append(message_id))
    return seen


def text_in(tenant, channel, django_capture_on_commit_callbacks, body: str = "Hello") -> None:
    payload = {"id": f"simin_{uuid.uuid4().hex}", "from": PATIENT, "to": channel.address, "body": body}
    with django_capture_on_commit_callbacks(execute=True):
        assert post_simulator(channel, json.dumps(payload).encode()).status_code == 200


@pytest.fixture
def channel(tenant_a):
    with scope(organization=tenant_a.org):
        return make_channel(tenant_a.org)


def test_nobody_listening_queues_no_task(tenant_a, channel, queued, django_capture_on_commit_callbacks):
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)
    assert queued == []


def test_a_published_questionnaire_is_heard_by_the_next_message(
        tenant_a, channel, queued, django_capture_on_commit_callbacks):
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)  # caches "nobody listens"
    build(tenant_a, [{"kind": "text", "prompt": "Your name?", "field_key": "first_name"}])
    text_in(tenant_a, channel, django_capture_on_commit_callbacks, body="INTAKE")
    assert len(queued) == 1


def test_a_partner_endpoint_for_received_messages_is_heard(
        tenant_a, channel, queued, django_capture_on_commit_callbacks):
    owner = actor_for(tenant_a.owner, tenant_a.org)
    with scope(organization=tenant_a.org):
        endpoints.create_endpoint(actor=owner, url="https://partner.example.org/hook",
                                  event_types=["message.status"])
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)
    assert queued == []  # status events only: inbound messages are nobody's business
    with scope(organization=tenant_a.org):
        endpoints.create_endpoint(actor=owner, url="https://partner.example.org/in",
                                  event_types=["message.received"])
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)
    assert len(queued) == 1


def test_another_organisation_listening_changes_nothing_here(
        tenant_a, tenant_b, channel, queued, django_capture_on_commit_callbacks):
    build(tenant_b, [{"kind": "text", "prompt": "Your name?", "field_key": "first_name"}])
    text_in(tenant_a, channel, django_capture_on_commit_callbacks)
    assert queued == []


class Listener:
    def __init__(self):
        self.wanted = False
        self.asked = 0

    def wants(self, organization_id: int) -> bool:
        self.asked += 1
        return self.wanted

    def __call__(self, event) -> None:
        pass


@pytest.fixture
def listener():
    handler = Listener()
    register_inbound_handler(handler, wants=handler.wants)
    yield handler
    unregister_inbound_handler(handler)


@pytest.fixture
def in_scope(tenant_a):
    """The webhook asks inside the organisation's scope; so do these tests."""
    with scope(organization=tenant_a.org):
        yield


def test_the_answer_is_cached_until_a_change_is_reported(tenant_a, listener, in_scope):
    org = tenant_a.org.pk
    assert not has_listeners(org) and not has_listeners(org)
    assert listener.asked == 1
    listener.wanted = True
    interest_changed(org)
    assert has_listeners(org) and has_listeners(org)
    assert listener.asked == 2


def test_a_change_during_a_read_never_leaves_a_stale_answer(tenant_a, listener, in_scope):
    """A reader that loaded the old state, then cached it after the change, must not be believed."""
    org = tenant_a.org.pk

    def read_then_change(organization_id: int) -> bool:
        answer = listener.wants(organization_id)  # the old state: nobody listens
        listener.wanted = True
        interest_changed(organization_id)  # the change lands before the reader stores its answer
        return answer

    assert interest.cached(org, read_then_change) is False
    assert has_listeners(org) is True


def test_with_the_cache_down_every_message_is_offered(tenant_a, listener, monkeypatch):
    class DownCache:
        def get_many(self, keys):
            raise ConnectionError("redis is down")

    monkeypatch.setattr(interest, "cache", DownCache())
    assert has_listeners(tenant_a.org.pk) is True
    assert listener.asked == 0


def test_a_handler_without_wants_hears_everything(tenant_a, listener, in_scope):
    def everything(event) -> None:
        pass

    register_inbound_handler(everything)
    try:
        assert has_listeners(tenant_a.org.pk) is True
    finally:
        unregister_inbound_handler(everything)
    assert has_listeners(tenant_a.org.pk) is False  # back to the listener's own answer


def test_a_new_organisation_with_a_reused_id_starts_unknown(tenant_a, listener, in_scope):
    from accounts.models import Organization

    org = tenant_a.org.pk
    listener.wanted = True
    assert has_listeners(org)  # cached: "someone listens"
    listener.wanted = False
    Organization.objects.filter(pk=org).delete()
    Organization.objects.create(pk=org, name="Same id again", slug="same-id-again")
    assert not has_listeners(org)


def test_a_watched_model_reports_its_changes(tenant_a):
    from contacts.models import Tag

    handler = Listener()
    register_inbound_handler(handler, wants=lambda org: Tag.objects.filter(organization_id=org).exists(),
                             watch=[Tag])
    try:
        with scope(organization=tenant_a.org):
            assert not has_listeners(tenant_a.org.pk)
            Tag.objects.create(organization=tenant_a.org, name="diabetes-clinic")
            assert has_listeners(tenant_a.org.pk)
    finally:
        unregister_inbound_handler(handler)


def test_only_the_handlers_that_want_the_message_are_offered_it(tenant_a, listener, in_scope):
    """The intake bot hearing a patient must not make campaigns' reply handler run (and query)
    for an organisation with no campaign: each handler's own interest decides."""
    from messaging.inbound import InboundEvent, listening_handlers, offer_to_handlers

    heard: list[str] = []

    class Other:
        wanted = True

        def __call__(self, event):
            heard.append("other")

        def wants(self, organization_id):
            return self.wanted

    other = Other()
    register_inbound_handler(other, wants=other.wants)
    try:
        org = tenant_a.org.pk
        assert listening_handlers(org) == (other,)  # the listener does not want it
        event = InboundEvent(organization_id=org, channel_id=1, message_id=1, conversation_id=None,
                             contact_id=None, keyword=None)
        assert offer_to_handlers(event) == 1 and heard == ["other"] and listener.asked == 1
        listener.wanted = True
        interest_changed(org)
        assert set(listening_handlers(org)) == {listener, other}
    finally:
        unregister_inbound_handler(other)
