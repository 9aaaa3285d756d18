"""Wrong actors: every service and selector checks the permission and the organisation itself."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_scopes import scope

from accounts.actor import Actor, WrongOrganization
from accounts.roles import Perm
from campaigns import selectors
from campaigns.services import campaigns as campaign_services
from campaigns.services import lifecycle
from campaigns.services import templates as template_services
from tests.campaigns.conftest import actor_of

pytestmark = pytest.mark.django_db


def _manage_calls(campaign, template, organization, channel):
    """(name, call(actor)) for every write: each needs CAMPAIGNS_MANAGE in the row's organisation."""
    return [
        (
            "create_template",
            lambda a: template_services.create_template(
                actor=a, organization=organization, name="X", body="Hi"
            ),
        ),
        (
            "update_template",
            lambda a: template_services.update_template(actor=a, template=template, name="Y"),
        ),
        (
            "save_variant",
            lambda a: template_services.save_variant(actor=a, template=template, language="es", body="Hola"),
        ),
        ("delete_template", lambda a: template_services.delete_template(actor=a, template=template)),
        (
            "create_campaign",
            lambda a: campaign_services.create_campaign(
                actor=a, organization=organization, name="X", kind="care", channel=channel, template=template
            ),
        ),
        (
            "update_campaign",
            lambda a: campaign_services.update_campaign(actor=a, campaign=campaign, name="Y"),
        ),
        (
            "upload_audience_numbers",
            lambda a: campaign_services.upload_audience_numbers(
                actor=a, campaign=campaign, lines=["+14155550100"]
            ),
        ),
        ("delete_campaign", lambda a: campaign_services.delete_campaign(actor=a, campaign=campaign)),
        (
            "update_campaign_settings",
            lambda a: campaign_services.update_campaign_settings(
                actor=a, organization=organization, default_language="es"
            ),
        ),
        ("schedule_campaign", lambda a: lifecycle.schedule_campaign(actor=a, campaign=campaign)),
        ("start_campaign", lambda a: lifecycle.start_campaign(actor=a, campaign=campaign)),
        ("pause_campaign", lambda a: lifecycle.pause_campaign(actor=a, campaign=campaign)),
        ("resume_campaign", lambda a: lifecycle.resume_campaign(actor=a, campaign=campaign)),
        ("cancel_campaign", lambda a: lifecycle.cancel_campaign(actor=a, campaign=campaign)),
        ("unschedule_campaign", lambda a: lifecycle.unschedule_campaign(actor=a, campaign=campaign)),
        (
            "pause_if_channel_inactive",
            lambda a: lifecycle.pause_if_channel_inactive(actor=a, campaign=campaign),
        ),
        ("complete_if_finished", lambda a: lifecycle.complete_if_finished(actor=a, campaign=campaign)),
    ]


def _view_calls(campaign, template, organization):
    return [
        ("campaigns", lambda a: list(selectors.campaigns(actor=a))),
        ("templates", lambda a: list(selectors.templates(actor=a))),
        ("count_audience", lambda a: selectors.count_audience(actor=a, campaign=campaign)),
        ("recipient_counts", lambda a: selectors.recipient_counts(actor=a, campaign=campaign)),
        (
            "preview_for_contact",
            lambda a: selectors.preview_for_contact(
                actor=a, template=template, query="1", organization=organization
            ),
        ),
    ]


@pytest.fixture
def world(tenant_a, tenant_b, make_campaign):
    campaign = make_campaign()
    return campaign, campaign.template, tenant_a.org, campaign.channel


def _wrong_actors(tenant_a, tenant_b):
    return {
        "viewer": actor_of(tenant_a, "viewer"),
        "staff": actor_of(tenant_a, "staff"),
        "view-only api key": Actor.api_key(
            key_id="k1", organization_id=tenant_a.org.pk, permissions={Perm.CAMPAIGNS_VIEW}
        ),
        "other org's owner": actor_of(tenant_b, "owner"),
        "other org's system job": Actor.system("campaign-dispatcher", organization_id=tenant_b.org.pk),
        "nobody": None,
    }


def test_every_write_refuses_every_wrong_actor(world, tenant_a, tenant_b):
    refused = []
    for actor_name, actor in _wrong_actors(tenant_a, tenant_b).items():
        for name, call in _manage_calls(*world):
            with pytest.raises(PermissionDenied):
                call(actor)
            refused.append((actor_name, name))
    assert len(refused) == 6 * 17
    campaign = world[0]
    campaign.refresh_from_db()
    assert (campaign.name, campaign.state) == ("Flu shots", "draft")  # nothing changed


def test_other_organisations_are_refused_even_with_every_permission(world, tenant_b):
    outsider = Actor.system("campaign-dispatcher", organization_id=tenant_b.org.pk)
    lists = {"campaigns", "templates"}
    for name, call in _manage_calls(*world) + _view_calls(*world[:3]):
        if name in lists:
            assert call(outsider) == [], name  # even inside org A's scope
            continue
        with pytest.raises(WrongOrganization):
            call(outsider)


def test_reads_need_campaigns_view(world, tenant_a):
    nobody = Actor.api_key(key_id="k2", organization_id=tenant_a.org.pk, permissions=set())
    for _name, call in _view_calls(*world[:3]):
        with pytest.raises(PermissionDenied):
            call(nobody)
    viewer = actor_of(tenant_a, "viewer")
    for _name, call in _view_calls(*world[:3]):
        call(viewer)


def test_the_preview_needs_contacts_view_too(world, tenant_a):
    campaigns_only = Actor.api_key(
        key_id="k3", organization_id=tenant_a.org.pk, permissions={Perm.CAMPAIGNS_VIEW}
    )
    with pytest.raises(PermissionDenied):
        selectors.preview_for_contact(
            actor=campaigns_only, template=world[1], query="1", organization=tenant_a.org
        )


def test_another_organisations_campaign_id_is_a_404_in_its_scope(world, tenant_b):
    campaign = world[0]
    owner_b = actor_of(tenant_b, "owner")
    with scope(organization=tenant_b.org), pytest.raises(Http404):
        selectors.get_campaign(actor=owner_b, campaign_id=campaign.pk)
    with scope(organization=tenant_b.org), pytest.raises(Http404):
        selectors.get_template(actor=owner_b, template_id=campaign.template_id)


def test_admins_and_owners_may_manage(world, tenant_a):
    for role in ("admin", "owner"):
        template_services.update_template(
            actor=actor_of(tenant_a, role), template=world[1], name=f"By {role}"
        )
