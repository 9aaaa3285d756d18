"""Channel services check their own permission with the Actor, in the row's own organisation.

Every service is called with a wrong-role member, a key without the scope and another
organisation's admin: each is refused, changes nothing and records nothing.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from accounts.actor import Actor, WrongOrganization, actor_for
from accounts.roles import Perm
from audit import AuditAction
from audit.models import AuditEvent
from messaging.models import Channel, MessagingSettings
from messaging.services import channels as channel_services

pytestmark = pytest.mark.django_db

TWILIO_CREDENTIALS = {"account_sid": "AC" + "1" * 32, "auth_token": "tok-original"}


def sim(tenant, **values) -> Channel:
    admin = actor_for(tenant.admin, tenant.org)
    with tenant.scope():
        return channel_services.create_channel(
            actor=admin, organization=tenant.org, provider="simulator",
            values={"name": "Sim", "address": "+15005550006", "rate_limit_per_second": 10, **values})


def twilio(tenant) -> Channel:
    admin = actor_for(tenant.admin, tenant.org)
    with tenant.scope():
        return channel_services.create_channel(
            actor=admin, organization=tenant.org, provider="twilio",
            values={"name": "Twilio", "address": "+14155550100"}, credentials=TWILIO_CREDENTIALS)


def calls(tenant, channel):
    """Each channel service, as a function of the actor, aimed at ``tenant``'s rows."""
    return {
        "create_channel": lambda actor: channel_services.create_channel(
            actor=actor, organization=tenant.org, provider="simulator",
            values={"name": "Intruder", "address": "+15005550007"}),
        "update_channel": lambda actor: channel_services.update_channel(
            actor=actor, channel=channel, values={"name": "Renamed"}),
        "rotate_webhook_secret": lambda actor: channel_services.rotate_webhook_secret(
            actor=actor, channel=channel),
        "switch_off_channel": lambda actor: channel_services.switch_off_channel(actor=actor, channel=channel),
        "update_messaging_settings": lambda actor: channel_services.update_messaging_settings(
            actor=actor, organization=tenant.org, help_reply="h", stop_reply="s", start_reply="x"),
    }


SERVICES = ["create_channel", "update_channel", "rotate_webhook_secret", "switch_off_channel",
            "update_messaging_settings"]


def wrong_actors(tenant_a, tenant_b):
    return {
        "staff": actor_for(tenant_a.staff, tenant_a.org),
        "viewer": actor_for(tenant_a.viewer, tenant_a.org),
        "key without the scope": Actor.api_key(key_id="k1", organization_id=tenant_a.org.pk,
                                               permissions={Perm.MESSAGES_SEND, Perm.CONTACTS_VIEW}),
        "other organisation's admin": actor_for(tenant_b.admin, tenant_b.org),
        "other organisation's job": Actor.system("ops:test", organization_id=tenant_b.org.pk),
    }


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("who", ["staff", "viewer", "key without the scope", "other organisation's admin",
                                 "other organisation's job"])
def test_each_channel_service_refuses_the_wrong_actor_and_changes_nothing(tenant_a, tenant_b, service, who):
    channel = sim(tenant_a)
    actor = wrong_actors(tenant_a, tenant_b)[who]
    with tenant_a.scope():
        events_before = AuditEvent.objects.count()
        secret_before = channel.webhook_secret
        with pytest.raises(PermissionDenied) as refused:
            calls(tenant_a, channel)[service](actor)
        if who.startswith("other"):
            assert isinstance(refused.value, WrongOrganization)
        fresh = Channel.objects.get(pk=channel.pk)
        assert (fresh.name, fresh.is_active, fresh.webhook_secret) == ("Sim", True, secret_before)
        assert Channel.objects.count() == 1
        assert not MessagingSettings.objects.filter(help_reply="h").exists()
        assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("service", SERVICES)
def test_each_channel_service_lets_an_admin_and_a_system_job_of_the_organisation_act(tenant_a, service):
    for actor in (actor_for(tenant_a.admin, tenant_a.org),
                  Actor.system("ops:channels", organization_id=tenant_a.org.pk)):
        channel = sim(tenant_a, name=f"Sim {actor.kind}")
        with tenant_a.scope():
            calls(tenant_a, channel)[service](actor)


def test_messaging_settings_need_the_settings_permission_not_the_channel_one(tenant_a):
    channels_only = Actor.api_key(key_id="k2", organization_id=tenant_a.org.pk,
                                  permissions={Perm.CHANNELS_MANAGE})
    with tenant_a.scope(), pytest.raises(PermissionDenied):
        channel_services.update_messaging_settings(actor=channels_only, organization=tenant_a.org,
                                                   help_reply="h", stop_reply="s", start_reply="x")


def test_rotating_the_simulator_secret_makes_a_new_one_and_audits_without_it(tenant_a):
    channel = sim(tenant_a)
    before = channel.webhook_secret
    with tenant_a.scope():
        channel_services.rotate_webhook_secret(actor=actor_for(tenant_a.admin, tenant_a.org), channel=channel)
        channel.refresh_from_db()
        event = AuditEvent.objects.get(action=AuditAction.CHANNEL_WEBHOOK_SECRET_ROTATED)
    assert channel.webhook_secret and channel.webhook_secret != before
    assert event.detail == {"provider": "simulator"}
    assert channel.webhook_secret not in str(event.detail)


def test_a_provider_secret_from_the_console_cannot_be_rotated_here(tenant_a):
    channel = twilio(tenant_a)
    with tenant_a.scope(), pytest.raises(ValidationError, match="Auth token"):
        channel_services.rotate_webhook_secret(actor=actor_for(tenant_a.admin, tenant_a.org), channel=channel)
    with tenant_a.scope():
        assert Channel.objects.get(pk=channel.pk).webhook_secret == "tok-original"


def test_switching_off_the_default_hands_the_default_to_another_active_channel(tenant_a):
    first = sim(tenant_a)
    second = twilio(tenant_a)
    assert first.is_default and not second.is_default
    with tenant_a.scope():
        channel_services.switch_off_channel(actor=actor_for(tenant_a.admin, tenant_a.org), channel=first)
        first.refresh_from_db()
        second.refresh_from_db()
        event = AuditEvent.objects.get(action=AuditAction.CHANNEL_SWITCHED_OFF)
    assert (first.is_active, first.is_default, second.is_default) == (False, False, True)
    assert event.detail == {"was_default": True, "new_default_id": second.pk}


def test_the_services_apply_the_providers_rules_too(tenant_a):
    admin = actor_for(tenant_a.admin, tenant_a.org)
    with tenant_a.scope():
        with pytest.raises(ValidationError) as bad_address:
            channel_services.create_channel(actor=admin, organization=tenant_a.org, provider="whatsapp_cloud",
                                            values={"name": "WA", "address": "+14155550100"},
                                            credentials={"access_token": "t", "app_secret": "s",
                                                         "verify_token": "v"})
        assert "address" in bad_address.value.message_dict
        with pytest.raises(ValidationError) as missing_secret:
            channel_services.create_channel(actor=admin, organization=tenant_a.org, provider="twilio",
                                            values={"name": "T", "address": "+14155550100"},
                                            credentials={"account_sid": "AC" + "1" * 32})
        assert "auth_token" in missing_secret.value.message_dict
        with pytest.raises(ValidationError) as wrong_kind:
            channel_services.create_channel(actor=admin, organization=tenant_a.org, provider="telnyx",
                                            values={"name": "T", "kind": "whatsapp",
                                                    "address": "+13125550100"},
                                            credentials={"api_key": "k"})
        assert "kind" in wrong_kind.value.message_dict
        assert not Channel.objects.exists()
