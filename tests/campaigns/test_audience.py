"""Who a campaign reaches and why the others are left out (counted before sending)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from campaigns import selectors
from campaigns.audience import AudienceEvaluator
from campaigns.services.campaigns import update_campaign, upload_audience_numbers
from campaigns.services.templates import save_variant
from contacts.custom_fields import define_custom_field
from contacts.services import set_consent
from contacts.tags import tag_contacts
from tests.factories import system_actor

pytestmark = pytest.mark.django_db


def counts_of(campaign, actor, chunk_size=2000):
    return AudienceEvaluator(campaign, actor=actor, now=timezone.now(), chunk_size=chunk_size).count()


def opt(contact, opted_in, channel="sms"):
    set_consent(actor=system_actor(contact), contact=contact, channel=channel, opted_in=opted_in,
                source="staff")


def test_care_reaches_everyone_not_opted_out(make_campaign, make_contact, admin_actor):
    _unknown, opted_in, opted_out = make_contact(), make_contact(), make_contact()
    opt(opted_in, True)
    opt(opted_out, False)
    counts = selectors.count_audience(actor=admin_actor, campaign=make_campaign(kind="care"))
    assert counts.eligible == 2
    assert dict(counts.excluded) == {"opted_out": 1}


def test_outreach_reaches_only_explicit_opt_ins(make_campaign, make_contact, admin_actor):
    _unknown, opted_in, opted_out = make_contact(), make_contact(), make_contact()
    opt(opted_in, True)
    opt(opted_out, False)
    whatsapp_only = make_contact()
    opt(whatsapp_only, True, channel="whatsapp")  # consent on another channel does not count
    counts = selectors.count_audience(actor=admin_actor, campaign=make_campaign(kind="outreach"))
    assert counts.eligible == 1
    assert dict(counts.excluded) == {"opted_out": 1, "no_consent": 2}


def test_no_number_and_numbers_that_cannot_receive_texts(make_campaign, make_contact, admin_actor):
    make_contact()
    make_contact(phone=None)
    make_contact(phone="+442079460018")  # a London landline
    counts = counts_of(make_campaign(), admin_actor)
    assert counts.eligible == 1
    assert dict(counts.excluded) == {"no_number": 1, "invalid_number": 1}


def test_tags_any_and_all(make_campaign, make_contact, admin_actor, tenant_a):
    both, flu, covid, _none = make_contact(), make_contact(), make_contact(), make_contact()
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[both.pk, flu.pk], tag_name="flu")
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[both.pk, covid.pk], tag_name="covid")
    from contacts.models import Tag

    tag_ids = list(Tag.objects.filter(name__in=["flu", "covid"]).values_list("pk", flat=True))
    any_campaign = make_campaign(audience_source="tags", tag_ids=tag_ids, tag_match="any")
    all_campaign = make_campaign(audience_source="tags", tag_ids=tag_ids, tag_match="all")
    assert counts_of(any_campaign, admin_actor).eligible == 3
    assert counts_of(all_campaign, admin_actor).eligible == 1


def test_exclusions_by_tag_and_by_recent_message(
    make_campaign, make_contact, admin_actor, tenant_a, sms_channel
):
    from contacts.models import Tag
    from messaging.models import Message

    keep, tagged, recent, long_ago = (make_contact() for _ in range(4))
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[tagged.pk], tag_name="do-not-text")

    def sent(contact, days_ago, origin="campaign"):
        message = Message.objects.create(
            organization=tenant_a.org,
            channel=sms_channel,
            contact=contact,
            direction="outbound",
            origin=origin,
            body="x",
            status="sent",
        )
        created_at = timezone.now() - datetime.timedelta(days=days_ago)
        Message.objects.filter(pk=message.pk).update(created_at=created_at)

    sent(recent, 2)
    sent(long_ago, 40)
    sent(keep, 1, origin="auto_reply")  # a STOP/HELP answer is not "messaging" the patient
    campaign = make_campaign(
        exclude_tag_ids=[Tag.objects.get(name="do-not-text").pk], exclude_messaged_days=30
    )
    counts = counts_of(campaign, admin_actor)
    assert counts.eligible == 2
    assert dict(counts.excluded) == {"excluded_tag": 1, "recently_messaged": 1}


def test_custom_field_conditions_equals_and_is_empty(make_campaign, make_contact, admin_actor, tenant_a):
    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                        label="Insurer", field_type="text", key="insurer")
    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                        label="Visits", field_type="number", key="visits")
    make_contact(custom_values={"insurer": "ACME Health", "visits": "3"})
    make_contact(custom_values={"insurer": "acme health "})
    make_contact(custom_values={"insurer": "Other", "visits": 3})
    make_contact()
    equals = make_campaign(conditions=[{"key": "insurer", "op": "equals", "value": "Acme Health"}])
    assert counts_of(equals, admin_actor).eligible == 2
    both = make_campaign(
        conditions=[
            {"key": "insurer", "op": "equals", "value": "ACME HEALTH"},
            {"key": "visits", "op": "equals", "value": "3.0"},
        ]
    )
    assert counts_of(both, admin_actor).eligible == 1
    empty = make_campaign(conditions=[{"key": "visits", "op": "is_empty"}])
    assert counts_of(empty, admin_actor).eligible == 2


def test_conditions_are_stored_encrypted(make_campaign, tenant_a):
    from django.db import connection

    define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org,
                        label="Diagnosis", field_type="text", key="diagnosis")
    campaign = make_campaign(conditions=[{"key": "diagnosis", "op": "equals", "value": "Diabetes type 2"}])
    with connection.cursor() as cursor:
        cursor.execute("SELECT conditions FROM campaigns_campaign WHERE id = %s", [campaign.pk])
        stored = cursor.fetchone()[0]
    assert "Diabetes" not in stored


def test_missing_value_skips_or_renders_blank_as_the_template_says(
    make_campaign, make_template, make_contact, admin_actor
):
    make_contact(first_name="Ada")
    make_contact(first_name=None)
    skip = make_campaign(template=make_template("Hi {{ first_name }}", on_missing="skip"))
    blank = make_campaign(template=make_template("Hi {{ first_name }}", on_missing="blank"))
    fallback = make_campaign(template=make_template('Hi {{ first_name | "there" }}', on_missing="skip"))
    assert dict(counts_of(skip, admin_actor).excluded) == {"missing_value": 1}
    assert counts_of(blank, admin_actor).eligible == 2
    assert counts_of(fallback, admin_actor).eligible == 2


def test_one_number_is_one_contact_so_each_number_gets_one_message(make_campaign, make_contact,
                                                                 admin_actor):
    """contact_unique_phone (issue 15) makes a shared number impossible: one message per number."""
    from contacts.services import DuplicatePhone

    make_contact(phone="+14155550100")
    with pytest.raises(DuplicatePhone):
        make_contact(phone="+14155550100")
    make_contact(phone="+14155550101")
    counts = counts_of(make_campaign(), admin_actor)
    assert counts.eligible == 2
    assert dict(counts.excluded) == {}


def test_a_number_whose_contact_opted_out_gets_nothing(make_campaign, make_contact, admin_actor):
    contact = make_contact(phone="+14155550100")
    opt(contact, False)
    counts = counts_of(make_campaign(), admin_actor)
    assert counts.eligible == 0
    assert dict(counts.excluded) == {"opted_out": 1}


def test_chunk_boundaries_do_not_change_the_answer(make_campaign, make_contact, admin_actor):
    for i in range(7):
        contact = make_contact(phone=f"+141555502{i:02d}")
        if i == 4:
            opt(contact, False)
    make_contact(phone=None)
    campaign = make_campaign()
    expected = counts_of(campaign, admin_actor, chunk_size=1000).as_dict()
    for size in (1, 2, 3):
        assert counts_of(campaign, admin_actor, chunk_size=size).as_dict() == expected
    assert expected["eligible"] + expected["excluded"]["duplicate"] + expected["excluded"]["opted_out"] == 7


def test_language_variants_and_worst_case_segments(make_campaign, make_template, make_contact, admin_actor):
    template = make_template("Hi {{ first_name }}, your appointment is tomorrow.", language="en")
    save_variant(
        actor=admin_actor,
        template=template,
        language="es",
        body="Hola {{ first_name }}, su cita es mañana. " + "x" * 150,
    )
    make_contact(language="")
    make_contact(language="es-MX")
    make_contact(language="de")
    make_contact(language="ES", first_name="Zoë 😀")
    campaign = make_campaign(template=template)
    evaluator = AudienceEvaluator(campaign, actor=admin_actor, now=timezone.now())
    outcomes = [o for chunk, _ in evaluator.chunks() for o in chunk]
    assert sorted(o.language for o in outcomes) == ["en", "en", "es", "es"]
    counts = evaluator.count()
    # Spanish is 179 GSM-7 septets (2 parts); the emoji name forces UCS-2: 182 units → 3 parts of 67.
    assert counts.segments_max == 3
    assert counts.encodings == {"GSM-7": 3, "UCS-2": 1}
    assert counts.segments_total == 1 + 1 + 2 + 3


def test_a_patient_whose_language_has_no_variant_gets_the_organisations_default_not_the_first(
        make_campaign, make_template, make_contact, admin_actor, tenant_a):
    from campaigns.models import CampaignSettings

    CampaignSettings.objects.update_or_create(organization=tenant_a.org, defaults={"default_language": "es"})
    template = make_template("Hi {{ first_name }}, your appointment is tomorrow.", language="en")
    save_variant(actor=admin_actor, template=template, language="es",
                 body="Hola {{ first_name }}, su cita es mañana.")
    make_contact(language="de", first_name="Jonas")
    make_contact(language="en", first_name="Ada")
    make_contact(language="", first_name="Lucía")
    evaluator = AudienceEvaluator(make_campaign(template=template), actor=admin_actor, now=timezone.now())
    outcomes = sorted((o.language for chunk, _ in evaluator.chunks() for o in chunk))
    # German has no variant: the organisation's Spanish, not the template's first (English) one.
    assert outcomes == ["en", "es", "es"]


def test_uploaded_list_matches_through_the_blind_index(make_campaign, make_contact, admin_actor):
    a = make_contact(phone="+14155550111")
    make_contact(phone="+14155550112")
    campaign = make_campaign()
    result = upload_audience_numbers(
        actor=admin_actor,
        campaign=campaign,
        lines=["phone", "(415) 555-0111", "+1 415 555 0111", "+14155550199", ""],
    )
    assert result == {"read": 4, "numbers": 2, "invalid": 1, "duplicates": 1, "matched_contacts": 1}
    campaign.refresh_from_db()
    assert campaign.audience_source == "upload"
    evaluator = AudienceEvaluator(campaign, actor=admin_actor, now=timezone.now())
    assert [o.contact_id for chunk, _ in evaluator.chunks() for o in chunk] == [a.pk]
    from campaigns.models import CampaignAudienceNumber

    # Only blind indexes are kept (a hex digest may contain "415" by chance: look for the numbers).
    stored = set(CampaignAudienceNumber.objects.values_list("phone_index", flat=True))
    assert len(stored) == 2 and not any("5550" in index or "+1" in index for index in stored)


def test_counting_is_audited_with_counts_only(make_campaign, make_contact, admin_actor):
    make_contact()
    campaign = make_campaign()
    selectors.count_audience(actor=admin_actor, campaign=campaign)
    event = AuditEvent.objects.get(target_type="campaigns.campaign", target_id=str(campaign.pk), action=409)
    assert event.detail == {"eligible": 1, "excluded": 0, "segments_total": 1}
    campaign.refresh_from_db()
    assert campaign.audience_counts["eligible"] == 1


def test_changing_the_audience_after_counting_changes_the_count(make_campaign, make_contact, admin_actor):
    make_contact()
    campaign = make_campaign()
    assert selectors.count_audience(actor=admin_actor, campaign=campaign).eligible == 1
    update_campaign(actor=admin_actor, campaign=campaign, exclude_messaged_days=7)
    make_contact()
    assert selectors.count_audience(actor=admin_actor, campaign=campaign).eligible == 2


def test_contacts_are_read_in_bounded_keyset_chunks(make_campaign, make_contact, admin_actor):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(7):
        make_contact()
    campaign = make_campaign()
    with CaptureQueriesContext(connection) as queries:
        assert counts_of(campaign, admin_actor, chunk_size=3).eligible == 7
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if 'FROM "contacts_contact"' in q["sql"] and q["sql"].startswith("SELECT")
    ]
    assert len(reads) == 4  # 3 + 3 + 1, then an empty page
    assert all(sql.endswith("LIMIT 3") for sql in reads)
    assert all(
        'ORDER BY "contacts_contact"."phone_index" ASC, "contacts_contact"."id" ASC' in sql for sql in reads
    )
    # Only the columns the campaign needs are loaded (and so decrypted): no e-mail, no date of birth.
    assert not any('"contacts_contact"."email"' in sql or "date_of_birth" in sql for sql in reads)


def test_a_tag_deleted_after_saving_drops_out_of_an_all_of_audience(
    make_campaign, make_contact, admin_actor, tenant_a
):
    from contacts.models import Tag

    contact = make_contact()
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[contact.pk], tag_name="flu")
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[contact.pk], tag_name="old")
    tag_ids = list(Tag.objects.values_list("pk", flat=True))
    campaign = make_campaign(audience_source="tags", tag_ids=tag_ids, tag_match="all")
    Tag.objects.filter(name="old").delete()
    assert counts_of(campaign, admin_actor).eligible == 1


def test_a_tags_audience_whose_tags_were_all_deleted_reaches_nobody_and_cannot_start(
    make_campaign, make_contact, admin_actor, tenant_a
):
    from campaigns.errors import CampaignRefused
    from campaigns.services.lifecycle import start_campaign
    from contacts.models import Tag

    tagged, _untagged = make_contact(), make_contact()
    tag_contacts(actor=system_actor(tenant_a.org), contact_ids=[tagged.pk], tag_name="flu")
    campaign = make_campaign(audience_source="tags", tag_ids=list(Tag.objects.values_list("pk", flat=True)))
    assert counts_of(campaign, admin_actor).eligible == 1
    Tag.objects.all().delete()
    assert counts_of(campaign, admin_actor).eligible == 0  # not "everyone": the tag filter stays
    with pytest.raises(CampaignRefused) as refused:
        start_campaign(actor=admin_actor, campaign=campaign)
    assert refused.value.code == "no_tags"
    campaign.refresh_from_db()
    assert campaign.state == "draft"
