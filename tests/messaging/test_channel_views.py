"""Channel set-up: admins only, write-only secrets, webhook URLs to paste, test messages, keyword replies."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.urls import reverse

from accounts.actor import actor_for
from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import Channel, Message, MessagingSettings
from messaging.services.channels import update_channel
from tests.fakes.signing import TELNYX_VECTOR_SEED, telnyx_keypair

pytestmark = pytest.mark.django_db

AUTH_TOKEN = "tok_5e3f9a0b1c2d4e6f8a9b0c1d2e3f4a5b"
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
META_TOKEN = "EAAGsecretaccesstokenvalue123"
META_APP_SECRET = "app-secret-4f7a9c2b"
META_VERIFY = "verify-token-8d1e"
TELNYX_KEY = "KEY0123SECRETTELNYX"
TELNYX_PUBLIC_KEY = telnyx_keypair(TELNYX_VECTOR_SEED)[1]  # 32 bytes, base64, as Mission Control shows it

TWILIO_FORM = {"name": "Front desk", "address": "+14155550100", "rate_limit_per_second": 1, "is_active": "on",
               "cred_account_sid": ACCOUNT_SID, "cred_auth_token": AUTH_TOKEN}


def twilio_channel(tenant, client=None) -> Channel:
    client = client or tenant.client_for("admin")
    response = client.post(reverse("messaging:channel_create", args=["twilio"]), TWILIO_FORM)
    assert response.status_code == 302, response.content.decode()[:2000]
    with tenant.scope():
        return Channel.objects.get(name="Front desk")


def sim_channel(tenant, name: str = "Sim") -> Channel:
    with tenant.scope():
        return Channel.objects.create(organization=tenant.org, name=name, provider="simulator",
                                      address="+15005550006", webhook_secret="s", rate_limit_per_second=1000)


PAGES = [
    ("channels", None), ("messaging_settings", None), ("channel_create", "twilio"),
    ("channel_detail", "channel"), ("channel_edit", "channel"),
]


@pytest.mark.parametrize("role,status", [("owner", 200), ("admin", 200), ("staff", 403), ("viewer", 403)])
@pytest.mark.parametrize("name,arg", PAGES)
def test_only_admins_open_channel_pages(tenant_a, role, status, name, arg):
    channel = sim_channel(tenant_a)
    args = [] if arg is None else [channel.pk if arg == "channel" else arg]
    assert tenant_a.client_for(role).get(reverse(f"messaging:{name}", args=args)).status_code == status


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_cannot_create_edit_or_test(tenant_a, role):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for(role)
    assert client.post(reverse("messaging:channel_create", args=["twilio"]), TWILIO_FORM).status_code == 403
    assert client.post(reverse("messaging:channel_edit", args=[channel.pk]),
                       {"name": "Renamed", "address": "+15005550006",
                        "rate_limit_per_second": 5}).status_code == 403
    assert client.post(reverse("messaging:channel_test", args=[channel.pk]),
                       {"to_phone": "+14155550100"}).status_code == 403
    assert client.post(reverse("messaging:messaging_settings"),
                       {"help_reply": "x", "stop_reply": "y", "start_reply": "z"}).status_code == 403
    with tenant_a.scope():
        assert Channel.objects.get(pk=channel.pk).name == "Sim"
        assert Channel.objects.count() == 1
        assert not Message.objects.exists()


def test_admin_creates_a_twilio_channel_with_encrypted_credentials(tenant_a):
    channel = twilio_channel(tenant_a)
    assert channel.credentials == {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN}
    assert channel.webhook_secret == AUTH_TOKEN  # Twilio signs webhooks with the auth token
    assert channel.kind == "sms" and channel.is_default  # the first channel becomes the default
    with tenant_a.scope():
        event = AuditEvent.objects.get(action=AuditAction.CHANNEL_CREATED)
    assert event.detail == {"provider": "twilio", "credentials": ["account_sid", "auth_token"]}
    assert AUTH_TOKEN not in str(event.detail)


def test_whatsapp_through_twilio_kind_makes_a_whatsapp_channel(tenant_a):
    client = tenant_a.client_for("admin")
    page = client.get(reverse("messaging:channel_create", args=["twilio"])).content.decode()
    assert "WhatsApp through Twilio" in page  # the kind Twilio declares, offered as a choice
    client.post(reverse("messaging:channel_create", args=["twilio"]),
                {**TWILIO_FORM, "kind": "whatsapp", "address": "MG0123456789abcdef0123456789abcdef"})
    with tenant_a.scope():
        channel = Channel.objects.get(name="Front desk")
    assert channel.kind == "whatsapp"
    assert channel.address == "MG0123456789abcdef0123456789abcdef"


def test_secrets_are_never_rendered_back(tenant_a):
    channel = twilio_channel(tenant_a)
    client = tenant_a.client_for("admin")
    for name in ("channel_detail", "channel_edit"):
        page = client.get(reverse(f"messaging:{name}", args=[channel.pk])).content.decode()
        assert AUTH_TOKEN not in page
    edit = client.get(reverse("messaging:channel_edit", args=[channel.pk])).content.decode()
    assert "Stored. Leave blank to keep it" in edit
    assert ACCOUNT_SID in edit  # an identifier, not a secret: shown so admins can check it
    # A form that fails validation does not echo the secret either.
    bad = client.post(reverse("messaging:channel_create", args=["twilio"]),
                      {**TWILIO_FORM, "address": "nope"})
    assert bad.status_code == 200 and AUTH_TOKEN not in bad.content.decode()


def test_blank_secret_keeps_the_stored_one_and_a_new_one_replaces_it(tenant_a):
    channel = twilio_channel(tenant_a)
    client = tenant_a.client_for("admin")
    url = reverse("messaging:channel_edit", args=[channel.pk])
    form = {**TWILIO_FORM, "name": "Front desk 2", "is_default": "on", "cred_auth_token": ""}
    assert client.post(url, form).status_code == 302
    with tenant_a.scope():
        channel.refresh_from_db()
        assert channel.name == "Front desk 2" and channel.credentials["auth_token"] == AUTH_TOKEN
        event = AuditEvent.objects.filter(action=AuditAction.CHANNEL_UPDATED).latest("seq")
        assert event.detail == {"fields": ["name"], "credentials": []}
    client.post(url, {**form, "cred_auth_token": "new-token-123"})
    with tenant_a.scope():
        channel.refresh_from_db()
        assert channel.credentials["auth_token"] == "new-token-123"
        assert channel.webhook_secret == "new-token-123"
        event = AuditEvent.objects.filter(action=AuditAction.CHANNEL_UPDATED).latest("seq")
        assert event.detail == {"fields": [], "credentials": ["auth_token"]}
        assert "new-token-123" not in str(event.detail)


def test_whatsapp_cloud_channel_asks_for_its_own_fields(tenant_a):
    client = tenant_a.client_for("admin")
    page = client.get(reverse("messaging:channel_create", args=["whatsapp_cloud"])).content.decode()
    for label in ("Phone-number ID", "Access token", "App secret", "Verify token"):
        assert label in page
    assert "Auth token" not in page
    response = client.post(reverse("messaging:channel_create", args=["whatsapp_cloud"]), {
        "name": "WhatsApp", "address": "106540352242922", "rate_limit_per_second": 20, "is_active": "on",
        "cred_access_token": META_TOKEN, "cred_app_secret": META_APP_SECRET,
        "cred_verify_token": META_VERIFY})
    assert response.status_code == 302
    with tenant_a.scope():
        channel = Channel.objects.get(name="WhatsApp")
    assert channel.kind == "whatsapp"
    assert channel.webhook_secret == META_APP_SECRET
    assert channel.credentials["verify_token"] == META_VERIFY
    detail = client.get(reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    for secret in (META_TOKEN, META_APP_SECRET, META_VERIFY):
        assert secret not in detail


def test_telnyx_channel_stores_the_public_key_for_webhook_checks(tenant_a):
    client = tenant_a.client_for("admin")
    client.post(reverse("messaging:channel_create", args=["telnyx"]), {
        "name": "Telnyx", "address": "+13125550100", "rate_limit_per_second": 1, "is_active": "on",
        "cred_api_key": TELNYX_KEY, "cred_messaging_profile_id": "4001",
        "cred_public_key": TELNYX_PUBLIC_KEY})
    with tenant_a.scope():
        channel = Channel.objects.get(name="Telnyx")
    assert channel.webhook_secret == TELNYX_PUBLIC_KEY
    assert channel.credentials["api_key"] == TELNYX_KEY
    assert TELNYX_KEY not in client.get(reverse("messaging:channel_edit", args=[channel.pk])).content.decode()


def test_missing_required_secret_is_explained(tenant_a):
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_create", args=["twilio"]),
                                                 {**TWILIO_FORM, "cred_auth_token": ""})
    assert response.status_code == 200
    assert "This field is required." in response.content.decode()


def test_unknown_provider_is_404(tenant_a):
    response = tenant_a.client_for("admin").get(reverse("messaging:channel_create", args=["acme"]))
    assert response.status_code == 404


def test_detail_shows_the_webhook_url_to_paste(tenant_a):
    channel = twilio_channel(tenant_a)
    client = tenant_a.client_for("admin")
    page = client.get(reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    url = f"{settings.PUBLIC_BASE_URL}/webhooks/twilio/{channel.webhook_id}/"
    assert f'value="{url}"' in page
    assert "A message comes in" in page


def test_another_organisations_channel_is_not_found(tenant_a, tenant_b):
    theirs = sim_channel(tenant_b, name="Org B line")
    client = tenant_a.client_for("admin")
    for name in ("channel_detail", "channel_edit"):
        assert client.get(reverse(f"messaging:{name}", args=[theirs.pk])).status_code == 404
    assert client.post(reverse("messaging:channel_test", args=[theirs.pk]),
                       {"to_phone": "+14155550100"}).status_code == 404
    assert "Org B line" not in client.get(reverse("messaging:channels")).content.decode()


def test_admin_sends_a_test_message(tenant_a):
    channel = sim_channel(tenant_a)
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_test", args=[channel.pk]),
                                                 {"to_phone": "+14155550100"}, follow=True)
    assert "Test message handed to Simulator (built in)" in response.content.decode()
    with tenant_a.scope():
        message = Message.objects.get(channel=channel)
    assert message.origin == "test" and message.remote_address == "+14155550100"


def test_test_message_refusal_is_shown(tenant_a):
    with tenant_a.scope():
        channel = sim_channel(tenant_a)
        Channel.objects.filter(pk=channel.pk).update(is_active=False)
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_test", args=[channel.pk]),
                                                 {"to_phone": "+14155550100"})
    assert 'data-testid="test-refused"' in response.content.decode()
    assert "switched off" in response.content.decode()


def test_test_message_needs_a_valid_number(tenant_a):
    channel = sim_channel(tenant_a)
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_test", args=[channel.pk]),
                                                 {"to_phone": "call me"})
    assert "international format" in response.content.decode()


def test_only_one_default_channel(tenant_a):
    first = sim_channel(tenant_a)
    second = twilio_channel(tenant_a)
    with tenant_a.scope():
        admin = actor_for(tenant_a.admin, tenant_a.org)
        update_channel(channel=second, actor=admin, values={"is_default": True})
        first.refresh_from_db()
    assert second.is_default and not first.is_default


def test_admin_edits_the_keyword_replies(tenant_a):
    client = tenant_a.client_for("admin")
    response = client.post(reverse("messaging:messaging_settings"), {
        "help_reply": "Call 555-0100.", "stop_reply": "You're out.", "start_reply": "You're back."})
    assert response.status_code == 302
    with tenant_a.scope():
        current = MessagingSettings.objects.get(organization=tenant_a.org)
        event = AuditEvent.objects.get(action=AuditAction.ORGANIZATION_SETTINGS_CHANGED)
    assert current.help_reply == "Call 555-0100."
    assert event.detail == {"messaging_settings": ["help_reply", "stop_reply", "start_reply"]}


def test_admin_site_channel_page_hides_credentials(tenant_a):
    channel = twilio_channel(tenant_a)
    client = tenant_a.client_for("admin")
    response = client.get(reverse("admin:messaging_channel_change", args=[channel.pk]))
    assert response.status_code == 200
    page = response.content.decode()
    assert AUTH_TOKEN not in page and "credentials" not in page and "webhook_secret" not in page


def test_admin_site_lists_messaging_models(tenant_a):
    page = tenant_a.client_for("admin").get(reverse("admin:index")).content.decode()
    for label in ("Channels", "Canned responses", "Whats app templates", "Messaging settingss"):
        assert label.lower() in page.lower()


def test_admin_site_channel_save_goes_through_the_service_with_the_actor(tenant_a):
    channel = twilio_channel(tenant_a)
    client = tenant_a.client_for("admin")
    url = reverse("admin:messaging_channel_change", args=[channel.pk])
    form = {"name": "Renamed in admin", "kind": "sms", "address": "+14155550100", "rate_limit_per_second": 3,
            "is_active": "on"}
    assert client.post(url, form).status_code == 302
    with tenant_a.scope():
        channel.refresh_from_db()
        event = AuditEvent.objects.filter(action=AuditAction.CHANNEL_UPDATED).latest("seq")
    assert channel.name == "Renamed in admin" and channel.credentials["auth_token"] == AUTH_TOKEN
    assert event.detail == {"fields": ["name", "rate_limit_per_second", "is_default"], "credentials": []}
    assert event.actor_id == str(tenant_a.admin.pk)
    # The provider's rule holds in the admin too: a bad sender is explained, not saved.
    refused = client.post(url, {**form, "name": "Bad", "address": "MG123"})
    assert refused.status_code == 200 and "34 characters" in refused.content.decode()
    # The kinds offered are the ones Twilio declares.
    assert "WhatsApp through Twilio" in client.get(url).content.decode()
    with tenant_a.scope():
        assert Channel.objects.get(pk=channel.pk).name == "Renamed in admin"


def test_admin_site_messaging_settings_save_goes_through_the_service(tenant_a):
    client = tenant_a.client_for("admin")
    client.get(reverse("messaging:messaging_settings"))  # created on first use
    with tenant_a.scope():
        current = MessagingSettings.objects.get(organization=tenant_a.org)
    response = client.post(reverse("admin:messaging_messagingsettings_change", args=[current.pk]),
                           {"help_reply": "Admin help", "stop_reply": current.stop_reply,
                            "start_reply": current.start_reply})
    assert response.status_code == 302
    with tenant_a.scope():
        event = AuditEvent.objects.get(action=AuditAction.ORGANIZATION_SETTINGS_CHANGED)
    assert event.detail == {"messaging_settings": ["help_reply"]}


def test_set_up_pages_show_the_steps_the_provider_declares(tenant_a):
    client = tenant_a.client_for("admin")
    form_page = client.get(reverse("messaging:channel_create", args=["whatsapp_cloud"])).content.decode()
    assert "In WhatsApp Manager copy the phone-number ID" in form_page
    twilio_form = client.get(reverse("messaging:channel_create", args=["twilio"])).content.decode()
    assert "WhatsApp through Twilio: Messaging → Senders → WhatsApp senders" in twilio_form
    channel = twilio_channel(tenant_a)
    detail = client.get(reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    assert "Copy the Account SID and Auth Token" in detail
    assert "Make a new webhook secret" not in detail  # Twilio's secret is the auth token


def test_admin_rotates_the_simulator_secret_from_the_detail_page(tenant_a):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for("admin")
    assert "Make a new webhook secret" in client.get(
        reverse("messaging:channel_detail", args=[channel.pk])).content.decode()
    response = client.post(reverse("messaging:channel_rotate_secret", args=[channel.pk]), follow=True)
    assert "New webhook secret made" in response.content.decode()
    with tenant_a.scope():
        assert Channel.objects.get(pk=channel.pk).webhook_secret not in ("s", "", None)


def test_rotating_a_console_secret_is_explained_not_done(tenant_a):
    channel = twilio_channel(tenant_a)
    response = tenant_a.client_for("admin").post(
        reverse("messaging:channel_rotate_secret", args=[channel.pk]), follow=True)
    assert "paste it on this channel" in response.content.decode()
    with tenant_a.scope():
        assert Channel.objects.get(pk=channel.pk).webhook_secret == AUTH_TOKEN


def test_admin_switches_a_channel_off(tenant_a):
    channel = sim_channel(tenant_a)
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_switch_off", args=[channel.pk]),
                                                 follow=True)
    assert "Channel switched off" in response.content.decode()
    with tenant_a.scope():
        assert not Channel.objects.get(pk=channel.pk).is_active
        assert AuditEvent.objects.filter(action=AuditAction.CHANNEL_SWITCHED_OFF).count() == 1


@pytest.mark.parametrize("role", ["staff", "viewer"])
def test_staff_and_viewers_cannot_rotate_or_switch_off(tenant_a, role):
    channel = sim_channel(tenant_a)
    client = tenant_a.client_for(role)
    for name in ("channel_rotate_secret", "channel_switch_off"):
        assert client.post(reverse(f"messaging:{name}", args=[channel.pk])).status_code == 403
    with tenant_a.scope():
        fresh = Channel.objects.get(pk=channel.pk)
    assert fresh.is_active and fresh.webhook_secret == "s"


def test_another_organisations_channel_cannot_be_rotated_or_switched_off(tenant_a, tenant_b):
    theirs = sim_channel(tenant_b, name="Org B line")
    client = tenant_a.client_for("admin")
    for name in ("channel_rotate_secret", "channel_switch_off"):
        assert client.post(reverse(f"messaging:{name}", args=[theirs.pk])).status_code == 404
    with tenant_b.scope():
        assert Channel.objects.get(pk=theirs.pk).is_active


def test_a_bad_credential_is_explained_by_the_providers_rule(tenant_a):
    response = tenant_a.client_for("admin").post(reverse("messaging:channel_create", args=["twilio"]),
                                                 {**TWILIO_FORM, "cred_account_sid": "SK123"})
    assert response.status_code == 200
    assert "AC followed by 32 hex characters" in response.content.decode()


def test_a_channel_whose_provider_is_no_longer_installed_is_not_found_not_an_error(tenant_a):
    with tenant_a.scope():
        # Written past validation, as a row left behind by a removed provider module would be.
        Channel.objects.filter(pk=sim_channel(tenant_a).pk).update(provider="retired_provider")
        channel = Channel.objects.get(provider="retired_provider")
    client = tenant_a.client_for("admin")
    assert "retired_provider" in client.get(reverse("messaging:channels")).content.decode()
    for name in ("channel_detail", "channel_edit"):
        assert client.get(reverse(f"messaging:{name}", args=[channel.pk])).status_code == 404
