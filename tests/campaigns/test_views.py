"""The campaigns pages, the admin and campaign_status: doors onto the same services."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from audit.models import AuditEvent
from campaigns.models import Campaign, CampaignRecipient, MessageTemplate
from tests.factories import system_actor

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(tenant_a, org_scope):
    return tenant_a.client_for("admin")


def test_the_list_shows_kind_and_state_and_only_managers_may_create(make_campaign, tenant_a, admin_client):
    make_campaign(kind="outreach")
    page = admin_client.get(reverse("campaigns:list")).content.decode()
    assert "Outreach · opt-ins only" in page and "Draft" in page and 'data-testid="new-campaign"' in page
    viewer_page = tenant_a.client_for("viewer").get(reverse("campaigns:list")).content.decode()
    assert "Outreach · opt-ins only" in viewer_page and 'data-testid="new-campaign"' not in viewer_page
    assert tenant_a.client_for("viewer").post(reverse("campaigns:create"), {}).status_code == 403


def test_the_nav_links_to_campaigns(admin_client):
    assert reverse("campaigns:list") in admin_client.get(reverse("dashboard")).content.decode()


def test_creating_a_campaign_chooses_its_kind(admin_client, make_template, sms_channel):
    template = make_template()
    response = admin_client.post(
        reverse("campaigns:create"),
        {"name": "Results ready", "kind": "care", "channel": sms_channel.pk, "template": template.pk},
    )
    campaign = Campaign.objects.get(name="Results ready")
    assert response.status_code == 302 and response["Location"] == reverse(
        "campaigns:edit", args=[campaign.pk]
    )
    assert campaign.kind == "care" and campaign.state == "draft"
    for name in ("edit", "detail"):
        assert (
            "Care · unless opted out"
            in admin_client.get(reverse(f"campaigns:{name}", args=[campaign.pk])).content.decode()
        )


def test_editing_the_audience_and_schedule(admin_client, make_campaign, tenant_a, make_contact):
    from contacts.custom_fields import define_custom_field
    from contacts.tags import tag_contacts

    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                        label="Insurer", field_type="text", key="insurer")
    contact = make_contact()
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[contact.pk], tag_name="flu")
    from contacts.models import Tag

    tag = Tag.objects.get(name="flu")
    campaign = make_campaign()
    response = admin_client.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {
            "name": "Flu shots",
            "channel": campaign.channel_id,
            "template": campaign.template_id,
            "audience_source": "tags",
            "tags": [str(tag.pk)],
            "tag_match": "all",
            "exclude_messaged_days": "14",
            "send_at": "2030-01-15T09:30",
            "send_window_start": "09:00",
            "send_window_end": "17:00",
            "condition_key_1": "insurer",
            "condition_op_1": "is_empty",
            "condition_value_1": "",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.audience_source, campaign.tag_ids, campaign.tag_match) == ("tags", [tag.pk], "all")
    assert campaign.conditions == [{"key": "insurer", "op": "is_empty"}]
    assert campaign.send_at.isoformat() == "2030-01-15T09:30:00+00:00"  # the organisation's zone is UTC
    assert campaign.exclude_messaged_days == 14


def test_a_send_time_the_clocks_skip_is_refused(admin_client, make_campaign, tenant_a):
    type(tenant_a.org).objects.filter(pk=tenant_a.org.pk).update(timezone="Europe/Berlin")
    campaign = make_campaign()
    response = admin_client.post(
        reverse("campaigns:edit", args=[campaign.pk]),
        {
            "name": "Flu shots",
            "channel": campaign.channel_id,
            "template": campaign.template_id,
            "audience_source": "everyone",
            "tag_match": "any",
            "send_at": "2030-03-31T02:30",
        },
    )
    assert response.status_code == 200
    assert "does not exist in Europe/Berlin" in response.content.decode()


def test_a_send_time_is_read_in_the_organisations_zone_the_repeated_hour_as_its_first(
        admin_client, make_campaign, tenant_a):
    type(tenant_a.org).objects.filter(pk=tenant_a.org.pk).update(timezone="Europe/Berlin")
    campaign = make_campaign()
    form = {"name": "Flu shots", "channel": campaign.channel_id, "template": campaign.template_id,
            "audience_source": "everyone", "tag_match": "any"}
    utc = datetime.UTC
    for typed, stored in (("2030-06-11T09:15", datetime.datetime(2030, 6, 11, 7, 15, tzinfo=utc)),  # CEST
                          ("2030-01-15T09:15", datetime.datetime(2030, 1, 15, 8, 15, tzinfo=utc)),  # CET
                          # 02:30 happens twice on 27 October 2030: the first, still summer time.
                          ("2030-10-27T02:30", datetime.datetime(2030, 10, 27, 0, 30, tzinfo=utc))):
        edit = reverse("campaigns:edit", args=[campaign.pk])
        response = admin_client.post(edit, {**form, "send_at": typed})
        assert response.status_code == 302, typed
        campaign.refresh_from_db()
        assert campaign.send_at == stored, typed


def test_counting_shows_the_excluded_by_reason(admin_client, make_campaign, make_contact):
    from contacts.services import set_consent

    make_contact()
    opted_out = make_contact()
    set_consent(actor=system_actor(opted_out), contact=opted_out, channel="sms", opted_in=False,
                source="staff")
    make_contact(phone=None)
    campaign = make_campaign()
    response = admin_client.post(reverse("campaigns:count", args=[campaign.pk]), follow=True)
    page = response.content.decode()
    assert "1 patients will receive it; 2 are left out" in page
    assert "1 left out: Opted out" in page and "1 left out: No phone number" in page
    assert "Estimated cost: 0.01 USD" in page


def test_uploading_numbers_keeps_them_out_of_urls(admin_client, make_campaign, make_contact):
    contact = make_contact(phone="+14155550142")
    campaign = make_campaign()
    upload = SimpleUploadedFile(
        "list.csv", b"phone\n+1 415 555 0142\nnot a number\n", content_type="text/csv"
    )
    response = admin_client.post(reverse("campaigns:upload", args=[campaign.pk]), {"numbers": upload})
    assert response.status_code == 302 and "555" not in response["Location"]
    campaign.refresh_from_db()
    assert campaign.audience_source == "upload" and campaign.uploaded_numbers == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "1 numbers read (2 not valid numbers" in page and "1 match patients" in page
    assert contact.phone not in page


def test_the_preview_renders_for_a_chosen_patient_and_is_audited(admin_client, make_campaign, make_contact):
    contact = make_contact(first_name="Grace")
    campaign = make_campaign()
    response = admin_client.post(
        reverse("campaigns:preview", args=[campaign.pk]), {"contact": f"#{contact.pk}"}
    )
    assert "Hi Grace, your flu shot is due at Org A Clinic." in response.content.decode()
    assert AuditEvent.objects.filter(action=408, target_id=str(contact.pk)).exists()
    missing = admin_client.post(reverse("campaigns:preview", args=[campaign.pk]), {"contact": "#999999"})
    assert "No patient matches that" in missing.content.decode()


def test_send_now_then_pause_resume_and_an_illegal_step(
    admin_client, make_campaign, make_contact, django_capture_on_commit_callbacks
):
    make_contact()
    campaign = make_campaign()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("campaigns:action", args=[campaign.pk, "start"]))
    campaign.refresh_from_db()
    assert campaign.state == "running" and CampaignRecipient.objects.filter(campaign=campaign).count() == 1
    admin_client.post(reverse("campaigns:action", args=[campaign.pk, "pause"]))
    campaign.refresh_from_db()
    assert campaign.state == "paused"
    page = admin_client.post(
        reverse("campaigns:action", args=[campaign.pk, "pause"]), follow=True
    ).content.decode()
    assert "The campaign is paused: it cannot be paused. You can resume or cancel it." in page
    assert admin_client.get(reverse("campaigns:action", args=[campaign.pk, "resume"])).status_code == 405
    assert admin_client.post(reverse("campaigns:action", args=[campaign.pk, "explode"])).status_code == 404


def test_another_organisations_campaign_is_a_404(make_campaign, tenant_b):
    campaign = make_campaign()
    client = tenant_b.client_for("owner")
    assert client.get(reverse("campaigns:detail", args=[campaign.pk])).status_code == 404
    assert client.post(reverse("campaigns:action", args=[campaign.pk, "cancel"])).status_code == 404
    campaign.refresh_from_db()
    assert campaign.state == "draft"


def test_a_template_with_a_bad_placeholder_is_refused_with_its_position(admin_client):
    response = admin_client.post(
        reverse("campaigns:template_create"),
        {
            "name": "Reminder",
            "on_missing": "skip",
            "variant-language": "en",
            "variant-body": "Hi {{ first_name.__class__ }}",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Line 1, column 7: Unknown placeholder" in page
    assert not MessageTemplate.objects.exists()


def test_template_variants_per_language(admin_client):
    admin_client.post(
        reverse("campaigns:template_create"),
        {
            "name": "Reminder",
            "on_missing": "blank",
            "variant-language": "en",
            "variant-body": "Hi {{ first_name }}",
        },
    )
    template = MessageTemplate.objects.get(name="Reminder")
    admin_client.post(
        reverse("campaigns:template_detail", args=[template.pk]),
        {"form": "variant", "variant-language": "es", "variant-body": 'Hola {{ first_name | "amigo" }}'},
    )
    assert sorted(template.variants.values_list("language", flat=True)) == ["en", "es"]
    page = admin_client.get(reverse("campaigns:template_detail", args=[template.pk])).content.decode()
    assert "Hola" in page and "campaigns-template.js" in page


def test_the_live_preview_answers_json_with_errors_or_text(admin_client, make_template, make_contact):
    template = make_template()
    url = reverse("campaigns:template_preview", args=[template.pk])
    ok = admin_client.post(url, {"body": 'Hi {{ first_name | "there" }} ✓'}).json()
    assert ok["text"] == "Hi Alex ✓" and ok["encoding"] == "UCS-2" and ok["segments"] == 1
    bad = admin_client.post(url, {"body": "Hi {{ first_name"}).json()
    assert bad["error"].startswith("Line 1, column 4:") and bad["text"] == ""
    contact = make_contact(first_name="Linus")
    named = admin_client.post(url, {"body": "Hi {{ first_name }}", "contact": str(contact.pk)}).json()
    assert named["text"] == "Hi Linus" and named["contact_id"] == contact.pk
    assert admin_client.get(url).status_code == 405


def test_the_settings_page_changes_the_window(admin_client, tenant_a):
    from campaigns.models import CampaignSettings

    response = admin_client.post(
        reverse("campaigns:settings"),
        {"default_language": "es", "send_window_start": "09:00", "send_window_end": "18:30"},
    )
    assert response.status_code == 302
    settings = CampaignSettings.objects.get(organization=tenant_a.org)
    assert (settings.default_language, str(settings.send_window_start), str(settings.send_window_end)) == (
        "es",
        "09:00:00",
        "18:30:00",
    )
    same = admin_client.post(
        reverse("campaigns:settings"),
        {"default_language": "es", "send_window_start": "09:00", "send_window_end": "09:00"},
    )
    assert "different times" in same.content.decode()


def test_the_admin_saves_through_the_service(admin_client, make_campaign):
    campaign = make_campaign()
    url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(
        url,
        {
            "name": "Renamed in admin",
            "channel": campaign.channel_id,
            "template": campaign.template_id,
            "send_at_0": "",
            "send_at_1": "",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed in admin"
    assert AuditEvent.objects.filter(action=402, target_id=str(campaign.pk)).exists()


def test_campaign_status_prints_state_and_counts(make_campaign, make_contact, admin_actor):
    from campaigns.fanout import fan_out

    make_contact()
    make_contact(phone=None)
    campaign = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state="running")
    fan_out(actor=admin_actor, campaign_id=campaign.pk)
    out = io.StringIO()
    call_command("campaign_status", "--id", str(campaign.pk), stdout=out)
    lines = dict(line.split("=", 1) for line in out.getvalue().splitlines())
    assert lines["state"] == "running" and lines["kind"] == "care" and lines["fanout_done"] == "true"
    assert (lines["total"], lines["skipped"], lines["skipped_no_number"]) == ("2", "1", "1")
    assert int(lines["pending"]) + int(lines["deferred"]) == 1


def test_every_page_renders_for_its_roles(tenant_a, org_scope, make_campaign):
    campaign = make_campaign(kind="outreach")
    template = campaign.template
    pages = {
        "campaigns:list": [],
        "campaigns:templates": [],
        "campaigns:settings": [],
        "campaigns:detail": [campaign.pk],
        "campaigns:template_detail": [template.pk],
    }
    manager_pages = {"campaigns:create": [], "campaigns:template_create": [], "campaigns:edit": [campaign.pk]}
    admin, viewer = tenant_a.client_for("admin"), tenant_a.client_for("viewer")
    for name, args in {**pages, **manager_pages}.items():
        response = admin.get(reverse(name, args=args))
        assert response.status_code == 200, name
    for name, args in pages.items():
        assert viewer.get(reverse(name, args=args)).status_code == 200, name
    for name, args in manager_pages.items():
        assert viewer.get(reverse(name, args=args)).status_code == 403, name
    detail = admin.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    assert "Outreach · opt-ins only" in detail and 'data-testid="send-now"' in detail
    assert (
        'data-testid="send-now"'
        not in viewer.get(reverse("campaigns:detail", args=[campaign.pk])).content.decode()
    )
