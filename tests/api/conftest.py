"""Partner-API fixtures: keys of each organisation, and a client that sends one."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.actor import actor_for
from accounts.api_key_services import create_api_key
from accounts.api_keys import API_SCOPES


def make_key(tenant, scopes=None, **kwargs) -> str:
    """A key of ``tenant``'s organisation, made by its owner; returns the plaintext key."""
    with tenant.scope():
        _, plaintext = create_api_key(actor=actor_for(tenant.owner, tenant.org), name="Partner EHR",
                                      scopes=list(scopes or API_SCOPES), **kwargs)
    return plaintext


def whatsapp_thread(tenant, phone: str, **conversation):
    """A WhatsApp Cloud channel, a patient on it, their thread (``conversation``: its other fields)
    and an approved one-parameter template: (thread, template)."""
    from contacts.services import create_contact
    from messaging.models import Conversation, WhatsAppTemplate
    from tests.factories import system_actor
    from tests.messaging.backend_helpers import make_channel

    with tenant.scope():
        channel = make_channel(tenant.org, "whatsapp_cloud")
        contact = create_contact(actor=system_actor(tenant.org), organization=tenant.org, phone=phone)
        thread = Conversation.objects.create(organization=tenant.org, channel=channel, contact=contact,
                                             **conversation)
        template = WhatsAppTemplate.objects.create(organization=tenant.org, channel=channel,
                                                   name="results_ready", language="en_US",
                                                   preview="Hi {{1}}, your results are ready",
                                                   parameter_count=1, is_active=True)
    return thread, template


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def key_a(tenant_a) -> str:
    return make_key(tenant_a)


@pytest.fixture
def key_b(tenant_b) -> str:
    return make_key(tenant_b)


@pytest.fixture
def api_a(key_a) -> APIClient:
    return client_with(key_a)


@pytest.fixture
def api_b(key_b) -> APIClient:
    return client_with(key_b)
