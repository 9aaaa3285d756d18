"""Providers declare themselves: a new provider is one module, and nothing else names providers.

The first test writes a complete provider as one module (outside the package), imports it, and
uses it through the normal doors: the channel pages and forms, the channel services, the model's
validation, the webhook URL and the send path. The guard tests read the project's code and
templates for anything that branches on a provider's name outside messaging/providers/.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from messaging import channel_cache
from messaging.channel_config import webhook_path
from messaging.models import Channel, Message
from messaging.providers import (
    InvalidValue,
    available_backends,
    declaration_of,
    declarations,
    default_provider_key,
    unregister,
)
from messaging.services import channels as channel_services

REPO_ROOT = Path(__file__).resolve().parents[2]

ACME_MODULE = '''
"""Acme SMS: a provider CareRelay did not know about, declared in one module."""

import hashlib
import hmac
import uuid

from messaging.providers import (
    AddressRule, CredentialField, InboundMessage, KindOption, ProviderBackend, ProviderDeclaration,
    SendOutcome, SendResult, VerifyResult, WebhookBatch, WebhookUrlSpec, register,
)
from messaging.providers.declaration import SMS, e164_phone, pattern

SENT = []


@register("acme_sms")
class AcmeBackend(ProviderBackend):
    """Sends by remembering; webhooks signed with hex HMAC-SHA256 in Acme-Signature."""

    declaration = ProviderDeclaration(
        label="Acme SMS",
        summary="Texts through the Acme network.",
        kinds=(KindOption(SMS, "SMS", AddressRule("Acme sender number", "E.164, as Acme shows it",
                                                  e164_phone)),),
        credentials=(
            CredentialField("api_key", "Acme API key", secret=True),
            CredentialField("signing_secret", "Acme signing secret", secret=True, verifies_webhooks=True,
                            validate=pattern(r"whsec_[a-z0-9]{8,}",
                                             "The signing secret starts with whsec_: copy it again.")),
            CredentialField("region", "Acme region", secret=False, required=False),
        ),
        webhook_urls=(WebhookUrlSpec("Acme event URL", "Acme console → Events → Endpoint"),),
        instructions=("Create an API key in the Acme console.", "Paste the event URL under Events."),
    )

    def send(self, config, message):
        """Remember what would go out."""
        SENT.append((config.address, message.to, config.credential("api_key")))
        return SendResult(SendOutcome.ACCEPTED, provider_message_id="acme_" + uuid.uuid4().hex,
                          raw_status="queued")

    def verify_webhook(self, config, request):
        """Hex HMAC-SHA256 of the raw body under the signing secret."""
        secret = config.webhook_secret_or_public_key.encode()
        expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected.encode(), request.header("acme-signature").encode())
        return VerifyResult(ok, "" if ok else "Acme-Signature does not match")

    def parse_webhook(self, config, request):
        """One inbound text per request."""
        data = request.json("Acme")
        return WebhookBatch(inbound=[InboundMessage(provider_message_id=data["id"], from_address=data["from"],
                                                    to_address=config.address, body=data["text"])])
'''

ACME_FORM = {"name": "Acme line", "address": "+14155550123", "rate_limit_per_second": 5, "is_active": "on",
             "cred_api_key": "acme-key-123456", "cred_signing_secret": "whsec_abcdef1234",
             "cred_region": "eu-1"}


@pytest.fixture
def acme(tmp_path):
    """The Acme provider module, imported from a file outside the package; forgotten afterwards."""
    path = tmp_path / "acme_sms_provider.py"
    path.write_text(textwrap.dedent(ACME_MODULE))
    spec = importlib.util.spec_from_file_location("acme_sms_provider", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["acme_sms_provider"] = module
    spec.loader.exec_module(module)
    try:
        yield module
    finally:
        unregister("acme_sms")
        sys.modules.pop("acme_sms_provider", None)
        channel_cache.forget_all()


@pytest.mark.django_db
def test_a_provider_added_as_one_module_is_set_up_and_used_through_the_normal_doors(
        acme, tenant_a, django_capture_on_commit_callbacks):
    client = tenant_a.client_for("admin")
    assert "Acme SMS" in client.get(reverse("messaging:channels")).content.decode()
    page = client.get(reverse("messaging:channel_create", args=["acme_sms"])).content.decode()
    for text in ("Acme sender number", "Acme API key", "Acme signing secret",
                 "Create an API key in the Acme console."):
        assert text in page
    # Its own rule refuses a bad signing secret, with its own message.
    refused = client.post(reverse("messaging:channel_create", args=["acme_sms"]),
                          {**ACME_FORM, "cred_signing_secret": "nope"})
    assert refused.status_code == 200 and "starts with whsec_" in refused.content.decode()
    created = client.post(reverse("messaging:channel_create", args=["acme_sms"]), ACME_FORM)
    assert created.status_code == 302, created.content.decode()[:1500]
    with tenant_a.scope():
        channel = Channel.objects.get(name="Acme line")
        channel.full_clean()  # the registry, not model choices, says "acme_sms" is a provider
        event = AuditEvent.objects.get(action=AuditAction.CHANNEL_CREATED)
    assert (channel.provider, channel.kind, channel.address) == ("acme_sms", "sms", "+14155550123")
    assert channel.webhook_secret == "whsec_abcdef1234"  # the field it declared verifies_webhooks
    assert event.detail == {"provider": "acme_sms", "credentials": ["api_key", "region", "signing_secret"]}

    detail = client.get(reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    assert "Acme event URL" in detail
    assert f"{settings.PUBLIC_BASE_URL}/webhooks/acme_sms/{channel.webhook_id}/" in detail
    assert "acme-key-123456" not in detail and "whsec_abcdef1234" not in detail
    assert "eu-1" in detail  # not secret: shown

    # A signed webhook to its URL is verified by its backend and stored.
    import hashlib
    import hmac

    body = json.dumps({"id": "acme-in-1", "from": "+14155550199", "text": "hello from acme"}).encode()
    signature = hmac.new(b"whsec_abcdef1234", body, hashlib.sha256).hexdigest()
    webhook = Client().post(webhook_path(channel), data=body, content_type="application/json",
                            headers={"Acme-Signature": signature})
    assert webhook.status_code == 200
    forged = Client().post(webhook_path(channel), data=body, content_type="application/json",
                           headers={"Acme-Signature": "0" * 64})
    assert forged.status_code == 403
    with tenant_a.scope():
        inbound = Message.objects.get(provider_message_id="acme-in-1")
    assert inbound.body == "hello from acme"

    # The send path uses its backend too.
    with django_capture_on_commit_callbacks(execute=True):  # the dispatch runs after the commit
        sent = client.post(reverse("messaging:channel_test", args=[channel.pk]), {"to_phone": "+14155550100"},
                           follow=True)
    assert "Test message handed to Acme SMS" in sent.content.decode()
    assert acme.SENT == [("+14155550123", "+14155550100", "acme-key-123456")]


@pytest.mark.django_db
def test_a_provider_no_module_registers_is_refused_everywhere(tenant_a):
    actor = actor_for(tenant_a.admin, tenant_a.org)
    with tenant_a.scope():
        with pytest.raises(ValidationError):
            channel_services.create_channel(actor=actor, organization=tenant_a.org, provider="carrier_pigeon",
                                            values={"name": "x", "address": "+14155550100"})
        with pytest.raises(ValidationError):
            Channel(organization=tenant_a.org, name="x", provider="carrier_pigeon", address="+1").full_clean()
    page = tenant_a.client_for("admin").get(reverse("messaging:channel_create", args=["carrier_pigeon"]))
    assert page.status_code == 404


def test_every_provider_declares_what_the_set_up_pages_need():
    assert default_provider_key() in available_backends()
    assert sum(1 for _, declared in declarations() if declared.embedded_default) == 1
    for key, declared in declarations():
        assert declared.label and declared.kinds and declared.webhook_urls and declared.instructions, key
        keys = [field.key for field in declared.credentials]
        assert len(keys) == len(set(keys)), key
        for option in declared.kinds:
            assert option.kind in Channel.Kind.values and option.address.label, key
        # Webhooks are verified with something: a declared credential, or a secret we make.
        verifies = any(f.verifies_webhooks for f in declared.credentials)
        assert declared.generates_webhook_secret or verifies, key


@pytest.mark.parametrize(("provider", "kind", "raw", "stored"), [
    ("twilio", "sms", "+1 415 555 0100", "+14155550100"),
    ("twilio", "whatsapp", "MG0123456789abcdef0123456789abcdef", "MG0123456789abcdef0123456789abcdef"),
    ("telnyx", "sms", "+13125550100", "+13125550100"),
    ("whatsapp_cloud", "whatsapp", "106540352242922", "106540352242922"),
    ("simulator", "whatsapp", "+15005550006", "+15005550006"),
])
def test_addresses_follow_the_rule_of_the_kind(provider, kind, raw, stored):
    assert declaration_of(provider).kind_option(kind).address.clean(raw) == stored


@pytest.mark.parametrize(("provider", "kind", "raw", "message"), [
    ("twilio", "sms", "MG123", "34 characters"),
    ("twilio", "sms", "+1555123", "international format"),
    ("telnyx", "sms", "hello", "international format"),
    ("whatsapp_cloud", "whatsapp", "+14155550100", "numeric id"),
])
def test_a_bad_address_is_refused_with_what_to_do(provider, kind, raw, message):
    with pytest.raises(InvalidValue, match=message):
        declaration_of(provider).kind_option(kind).address.clean(raw)


def test_a_kind_the_provider_does_not_serve_is_refused():
    with pytest.raises(InvalidValue):
        declaration_of("telnyx").kind_option("whatsapp")
    assert declaration_of("whatsapp_cloud").kind_option(None).kind == "whatsapp"


# --------------------------------------------------------------------------- the guard
PROVIDER_KEYS = {"twilio", "telnyx", "whatsapp_cloud", "simulator"}
SKIPPED_DIRS = {".venv", "node_modules", ".git", "tests", "migrations", "bench", "docs", "static"}
_KEYS = "|".join(sorted(PROVIDER_KEYS))
TEMPLATE_BRANCH = re.compile(r"{%\s*(?:el)?if\b[^%]*[\"'](?:" + _KEYS + r")[\"'][^%]*%}")


def provider_name_uses(tree: ast.AST) -> list[int]:
    """Lines where code compares with, filters on or looks up a provider's name."""
    lines = []
    # A URL's name (path(..., name="simulator")) names a page, not a provider.
    url_names = {id(kw.value) for node in ast.walk(tree) if isinstance(node, ast.Call)
                 for kw in node.keywords if kw.arg == "name"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value in PROVIDER_KEYS and id(node) not in url_names:
            lines.append(node.lineno)  # "twilio" in a comparison, a filter, a dict key, a default …
        elif isinstance(node, ast.Attribute) and node.attr == "Provider":
            lines.append(node.lineno)  # Channel.Provider.X: the model has no provider list
    return lines


def project_files(suffix: str):
    for path in REPO_ROOT.rglob(f"*{suffix}"):
        relative = path.relative_to(REPO_ROOT)
        if SKIPPED_DIRS & set(relative.parts[:-1]) or relative.parts[:2] == ("messaging", "providers"):
            continue
        yield relative, path


def test_the_guard_sees_a_branch_on_a_provider_name():
    assert provider_name_uses(ast.parse('if channel.provider == "twilio":\n    pass')) == [1]
    assert provider_name_uses(ast.parse("Channel.objects.filter(provider=Channel.Provider.SIMULATOR)")) == [1]
    assert TEMPLATE_BRANCH.search('{% if channel.provider == "simulator" %}')
    assert not TEMPLATE_BRANCH.search("{% if declaration.plays_patient_in_browser %}")


def test_nothing_outside_messaging_providers_branches_on_provider_names():
    found = []
    for relative, path in project_files(".py"):
        for line in provider_name_uses(ast.parse(path.read_text(), filename=str(path))):
            found.append(f"{relative}:{line}")
    for relative, path in project_files(".html"):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if TEMPLATE_BRANCH.search(line):
                found.append(f"{relative}:{number}")
    assert found == [], "ask the provider's declaration instead of its name: " + ", ".join(found)
