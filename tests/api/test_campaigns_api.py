"""The campaigns API: create, edit while editable, schedule (billing asked), pause, resume, cancel,
stats and the audited recipient list — through the same services and selectors as the web UI,
audited with the key as actor, relation ids scoped to the key's organisation."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from campaigns import tasks
from campaigns.models import Campaign, CampaignRecipient
from campaigns.services.campaigns import create_campaign
from campaigns.services.templates import create_template
from contacts.models import Tag
from contacts.services import create_contact
from messaging.models import Channel
from messaging.ratelimit import get_rate_limiter
from tests.api.conftest import client_with, make_key
from tests.campaigns import billing_double
from tests.factories import system_actor

pytestmark = pytest.mark.django_db
NOON = datetime.datetime(2026, 6, 10, 20, 0, tzinfo=datetime.UTC)  # 13:00 for +1 415 patients


@pytest.fixture(autouse=True)
def _noon():
    with time_machine.travel(NOON, tick=False):
        yield


@pytest.fixture(autouse=True)
def billing_contract(monkeypatch):
    return billing_double.install(monkeypatch)


def _channel(tenant, **values) -> Channel:
    with tenant.scope():
        channel = Channel.objects.create(organization=tenant.org, name="Front desk", provider="simulator",
                                         kind="sms", address="+15005550006", webhook_secret="s3cret",
                                         rate_limit_per_second=1000, **values)
    get_rate_limiter().reset(channel.pk)
    return channel


def _template(tenant, name="Flu reminder", body='Hi {{ first_name | "there" }}, your flu shot is due.'):
    with tenant.scope():
        return create_template(actor=system_actor(tenant.org), organization=tenant.org, name=name,
                               language="en", body=body)


@pytest.fixture
def channel(tenant_a) -> Channel:
    return _channel(tenant_a)


@pytest.fixture
def template(tenant_a):
    return _template(tenant_a)


@pytest.fixture
def patients(tenant_a) -> list[int]:
    """Two patients with numbers and one without (skipped: no number)."""
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        return [create_contact(actor=actor, organization=tenant_a.org, **values).pk for values in (
            {"first_name": "Ada", "phone": "+14155550101"}, {"first_name": "Grace", "phone": "+14155550102"},
            {"first_name": "Alan", "phone": ""})]


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


def _events(tenant, action) -> list[AuditEvent]:
    with tenant.scope():
        return list(AuditEvent.objects.filter(organization=tenant.org, action=action).order_by("seq"))


def _create(api, channel, template, **values):
    body = {"name": "Flu shots", "kind": "care", "channel": channel.pk, "template": template.pk, **values}
    return api.post("/api/v1/campaigns", body, format="json")


def _draft(tenant, channel, template, **values) -> Campaign:
    with tenant.scope():
        return create_campaign(actor=system_actor(tenant.org), organization=tenant.org, name="Flu shots",
                               kind="care", channel=channel, template=template, **values)


def _state(campaign) -> str:
    with scopes_disabled():  # test read-back across the request's scope
        return Campaign.objects.get(pk=campaign.pk if isinstance(campaign, Campaign) else campaign).state


# --- the whole life -----------------------------------------------------------------------------
def test_create_then_send_now_runs_to_completed_with_counts_audited_by_the_key(
        tenant_a, key_a, channel, template, patients, billing_contract, django_capture_on_commit_callbacks):
    api = client_with(key_a)
    created = _create(api, channel, template, send_window={"start": "08:00", "end": "21:00"})
    assert created.status_code == 201, created.content
    campaign = created.json()
    assert (campaign["status"], campaign["kind"], campaign["channel"], campaign["template"]) == (
        "draft", "care", channel.pk, template.pk)
    assert campaign["audience"]["source"] == "everyone"
    assert campaign["send_window"] == {"start": "08:00", "end": "21:00"}
    event = _events(tenant_a, AuditAction.CAMPAIGN_CREATED)[-1]
    assert (event.actor_type, event.actor_id) == ("api_key", key_a.split(".")[0])

    draft_stats = api.get(f"/api/v1/campaigns/{campaign['id']}/stats").json()
    assert draft_stats["total"] == 0 and draft_stats["audience"]["eligible"] == 2
    assert draft_stats["audience"]["excluded"]["no_number"] == 1 and draft_stats["audience_refusal"] is None

    # Send now; Celery is eager in tests: the fan-out and the first dispatcher run happen at commit.
    with django_capture_on_commit_callbacks(execute=True):
        started = api.post(f"/api/v1/campaigns/{campaign['id']}/schedule", {}, format="json")
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "running" and started.json()["started_at"]
    assert billing_contract.checks == [(tenant_a.org.pk, 2)]
    # The dispatcher's next link (a countdown under a real worker) sees the messages out.
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_campaign(org_id=tenant_a.org.pk, campaign_id=campaign["id"])

    stats = api.get(f"/api/v1/campaigns/{campaign['id']}/stats")
    assert stats.status_code == 200
    data = stats.json()
    assert (data["status"], data["progress_percent"], data["total"]) == ("completed", 100, 3)
    assert data["counts"]["sent"] + data["counts"]["delivered"] == 2 and data["counts"]["skipped"] == 1
    assert data["skipped_by_reason"] == {"no_number": 1}
    assert {stage["key"]: stage["count"] for stage in data["funnel"]}["sent"] == 2
    assert "Ada" not in stats.content.decode()
    detail = api.get(f"/api/v1/campaigns/{campaign['id']}").json()
    assert detail["status"] == "completed" and detail["finished_at"]


def test_pause_resume_and_cancel_change_the_status(tenant_a, api_a, channel, template, patients):
    campaign = _draft(tenant_a, channel, template)
    # Without running the commit hooks: started, but no worker picks it up here.
    assert api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule").json()["status"] == "running"
    paused = api_a.post(f"/api/v1/campaigns/{campaign.pk}/pause")
    assert paused.status_code == 200
    assert (paused.json()["status"], paused.json()["pause_reason"]) == ("paused", "staff")
    assert paused.json()["pause_message"] == "Paused by staff."
    resumed = api_a.post(f"/api/v1/campaigns/{campaign.pk}/resume").json()
    assert (resumed["status"], resumed["pause_reason"]) == ("running", None)
    cancelled = api_a.post(f"/api/v1/campaigns/{campaign.pk}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"]
    again = api_a.post(f"/api/v1/campaigns/{campaign.pk}/resume")
    assert again.status_code == 409
    error = _error(again)
    assert error["code"] == "illegal_transition" and "cancelled" in error["message"]
    assert [e.actor_type for e in _events(tenant_a, AuditAction.CAMPAIGN_PAUSED)] == ["api_key"]


def test_schedule_for_later_and_change_it_while_scheduled(tenant_a, api_a, channel, template, patients):
    campaign = _draft(tenant_a, channel, template)
    later = (NOON + datetime.timedelta(hours=3)).isoformat()
    scheduled = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", {"send_at": later}, format="json")
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "scheduled"
    assert scheduled.json()["send_at"] == "2026-06-10T23:00:00Z"
    moved = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_at": "2026-06-11T09:00:00-07:00"},
                        format="json")
    assert moved.status_code == 200 and moved.json()["send_at"] == "2026-06-11T16:00:00Z"
    past = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_at": "2026-06-01T09:00:00Z"}, format="json")
    assert past.status_code == 400 and _error(past)["field"] == "send_at"


def test_a_drafts_time_is_set_by_schedule_not_patch_and_a_window_needs_both_ends(
        tenant_a, api_a, channel, template):
    campaign = _draft(tenant_a, channel, template)
    response = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_at": "2026-06-11T09:00:00Z"},
                           format="json")
    assert response.status_code == 400 and _error(response)["details"][0]["code"] == "not_scheduled"
    for window, field_name in (({}, "send_window.start"), ({"start": "09:00"}, "send_window.end"),
                               ({"start": "09:00", "end": "09:00"}, "send_window")):
        response = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_window": window}, format="json")
        assert response.status_code == 400 and _error(response)["field"] == field_name, window
    path = f"/api/v1/campaigns/{campaign.pk}"
    set_ = api_a.patch(path, {"send_window": {"start": "22:00", "end": "06:00"}}, format="json")
    assert set_.json()["send_window"] == {"start": "22:00", "end": "06:00"}
    zoned = api_a.patch(path, {"send_window": {"start": "09:00Z", "end": "17:00"}}, format="json")
    assert zoned.status_code == 400 and _error(zoned)["field"] == "send_window.start"
    cleared = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"send_window": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["send_window"] is None


def test_schedule_refuses_a_time_without_zone_or_in_the_past(tenant_a, api_a, channel, template, patients):
    campaign = _draft(tenant_a, channel, template)
    naive = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", {"send_at": "2026-06-11T09:00:00"},
                       format="json")
    assert naive.status_code == 400 and _error(naive)["field"] == "send_at"
    past = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", {"send_at": "2026-06-01T09:00:00Z"},
                      format="json")
    assert past.status_code == 400
    assert _error(past)["details"][0]["code"] == "send_at_past"
    assert _state(campaign) == "draft"


# --- editing ------------------------------------------------------------------------------------
def test_a_draft_is_edited_field_by_field_and_refused_with_409_once_running(
        tenant_a, api_a, key_a, channel, template, patients):
    with tenant_a.scope():
        tag = Tag.objects.create(organization=tenant_a.org, name="diabetes")
    campaign = _draft(tenant_a, channel, template)
    changed = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {
        "name": "Flu shots (diabetes)", "audience": {"source": "tags", "tags": [tag.pk], "tag_match": "all",
                                                     "exclude_messaged_days": 14}}, format="json")
    assert changed.status_code == 200, changed.content
    audience = changed.json()["audience"]
    assert [audience[k] for k in ("source", "tags", "tag_match", "exclude_messaged_days")] == [
        "tags", [tag.pk], "all", 14]
    assert changed.json()["name"] == "Flu shots (diabetes)"
    event = _events(tenant_a, AuditAction.CAMPAIGN_UPDATED)[-1]
    assert event.actor_id == key_a.split(".")[0] and "tag_ids" in event.detail["fields"]

    api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"audience": {"source": "everyone"}}, format="json")
    api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule")
    refused = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"name": "Renamed"}, format="json")
    assert refused.status_code == 409
    assert _error(refused)["code"] == "not_editable" and "running" in _error(refused)["message"]
    with tenant_a.scope():
        assert Campaign.objects.get(pk=campaign.pk).name == "Flu shots (diabetes)"


def test_the_kind_and_unknown_fields_are_refused_on_patch(tenant_a, api_a, channel, template):
    campaign = _draft(tenant_a, channel, template)
    for body, field_name in (({"kind": "outreach"}, "kind"), ({"nickname": "x"}, "nickname"),
                             ({"audience": {"tag": [1]}}, "audience.tag")):
        response = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", body, format="json")
        assert response.status_code == 400, body
        assert _error(response)["field"] == field_name
    with tenant_a.scope():
        assert Campaign.objects.get(pk=campaign.pk).kind == "care"


def test_an_audience_of_tags_needs_a_tag_and_tags_need_that_source(tenant_a, api_a, channel, template):
    with tenant_a.scope():
        tag = Tag.objects.create(organization=tenant_a.org, name="diabetes")
    response = _create(api_a, channel, template, audience={"source": "tags"})
    assert response.status_code == 400 and _error(response)["field"] == "audience.tags"
    # Tags without the source would be ignored, and the campaign reach everyone.
    response = _create(api_a, channel, template, audience={"tags": [tag.pk]})
    assert response.status_code == 400 and _error(response)["field"] == "audience.source"
    with tenant_a.scope():
        assert not Campaign.objects.exists()
    campaign = _draft(tenant_a, channel, template)
    response = api_a.patch(f"/api/v1/campaigns/{campaign.pk}", {"audience": {"source": "tags"}},
                           format="json")
    assert response.status_code == 400 and _error(response)["field"] == "audience.tags"


def test_custom_field_conditions_go_through_the_service(tenant_a, api_a, channel, template):
    from contacts.custom_fields import define_custom_field

    with tenant_a.scope():
        define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org, key="clinic",
                            label="Clinic", field_type="text")
    created = _create(api_a, channel, template, audience={"conditions": [
        {"key": "clinic", "op": "equals", "value": "North"}, {"key": "clinic", "op": "is_empty"}]})
    assert created.status_code == 201, created.content
    assert created.json()["audience"]["conditions"] == [{"key": "clinic", "op": "equals", "value": "North"},
                                                        {"key": "clinic", "op": "is_empty", "value": None}]
    unknown = _create(api_a, channel, template, audience={"conditions": [{"key": "nope", "op": "is_empty"}]})
    assert unknown.status_code == 400 and _error(unknown)["field"] == "audience.conditions"


# --- tenancy and scopes -------------------------------------------------------------------------
@pytest.mark.parametrize("relation", ["channel", "template", "tags", "exclude_tags"])
def test_another_organisations_ids_in_the_body_read_as_missing_and_nothing_is_created(
        tenant_a, tenant_b, api_a, channel, template, relation):
    theirs_channel, theirs_template = _channel(tenant_b), _template(tenant_b)
    with tenant_b.scope():
        theirs_tag = Tag.objects.create(organization=tenant_b.org, name="vip")
    values = {"channel": {"channel": theirs_channel.pk}, "template": {"template": theirs_template.pk},
              "tags": {"audience": {"source": "tags", "tags": [theirs_tag.pk]}},
              "exclude_tags": {"audience": {"exclude_tags": [theirs_tag.pk]}}}[relation]
    body = {"name": "Flu shots", "kind": "care", "channel": channel.pk, "template": template.pk, **values}
    response = api_a.post("/api/v1/campaigns", body, format="json")
    assert response.status_code == 400, response.content
    error = _error(response)
    assert error["code"] == "validation_error"
    assert error["field"] == {"channel": "channel", "template": "template", "tags": "audience.tags",
                              "exclude_tags": "audience.exclude_tags"}[relation]
    assert "not exist" in error["details"][0]["message"]
    with scopes_disabled():  # test read-back: nothing created anywhere
        assert not Campaign.objects.exists()


def test_another_organisations_campaign_is_404_on_every_route(tenant_a, tenant_b, api_a, channel, template):
    theirs = _draft(tenant_b, _channel(tenant_b), _template(tenant_b))
    base = f"/api/v1/campaigns/{theirs.pk}"
    for method, path in (("get", base), ("patch", base), ("get", f"{base}/stats"),
                         ("get", f"{base}/recipients"), ("post", f"{base}/schedule"),
                         ("post", f"{base}/pause"), ("post", f"{base}/resume"), ("post", f"{base}/cancel")):
        response = getattr(api_a, method)(path, {"name": "x"} if method == "patch" else {}, format="json")
        assert response.status_code == 404, (method, path)
        assert _error(response)["code"] == "not_found"
    assert _state(theirs) == "draft"
    assert [c["id"] for c in api_a.get("/api/v1/campaigns").json()["results"]] == []


def test_a_read_only_key_reads_but_cannot_create_or_schedule(tenant_a, channel, template, patients):
    campaign = _draft(tenant_a, channel, template)
    reader = client_with(make_key(tenant_a, scopes=["campaigns:read"]))
    assert reader.get(f"/api/v1/campaigns/{campaign.pk}").status_code == 200
    for response in (_create(reader, channel, template),
                     reader.post(f"/api/v1/campaigns/{campaign.pk}/schedule"),
                     reader.patch(f"/api/v1/campaigns/{campaign.pk}", {"name": "x"}, format="json")):
        assert response.status_code == 403
        assert _error(response)["code"] == "permission_denied"
    with tenant_a.scope():
        assert Campaign.objects.count() == 1
    assert _state(campaign) == "draft"
    # Without contacts:read the recipient list (names behind ids) is refused too.
    assert reader.get(f"/api/v1/campaigns/{campaign.pk}/recipients").status_code == 403


def test_a_write_only_key_creates_but_needs_read_to_act_on_a_campaign_by_id(tenant_a, channel, template):
    writer = client_with(make_key(tenant_a, scopes=["campaigns:write"]))
    created = _create(writer, channel, template)
    assert created.status_code == 201
    # Campaigns are looked up by id through the read selector: campaigns:read goes with write.
    response = writer.post(f"/api/v1/campaigns/{created.json()['id']}/cancel")
    assert response.status_code == 403 and _error(response)["code"] == "permission_denied"


def test_a_drafts_stats_say_why_its_audience_cannot_be_counted(tenant_a, api_a, channel):
    empty = _template(tenant_a, name="Empty", body="")
    campaign = _draft(tenant_a, channel, empty)
    data = api_a.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    assert data["audience"] is None and data["audience_refusal"]["code"] == "no_variants"
    refused = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule")
    assert refused.status_code == 409
    assert (_error(refused)["code"], _error(refused)["field"]) == ("no_variants", "template")


def test_list_filters_by_status_and_kind_and_refuses_unknown_parameters(tenant_a, api_a, channel, template):
    care = _draft(tenant_a, channel, template)
    with tenant_a.scope():
        outreach = create_campaign(actor=system_actor(tenant_a.org), organization=tenant_a.org, name="News",
                                   kind="outreach", channel=channel, template=template)
    def ids(query):
        return [c["id"] for c in api_a.get(f"/api/v1/campaigns{query}").json()["results"]]

    assert ids("") == [outreach.pk, care.pk]
    assert ids("?kind=outreach") == [outreach.pk]
    assert ids("?status=draft&kind=care") == [care.pk]
    assert ids("?status=running") == []
    assert api_a.get("/api/v1/campaigns?state=draft").status_code == 400


def test_list_pages_cost_the_same_queries_whatever_their_length(tenant_a, api_a, channel, template):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api_a.get("/api/v1/campaigns").status_code == 200
            assert api_a.get("/api/v1/message-templates").status_code == 200
        return len(captured)

    _draft(tenant_a, channel, template, conditions=[])
    queries()  # warm: the key's and the organisation's caches
    few = queries()
    for n in range(4):
        _draft(tenant_a, channel, _template(tenant_a, name=f"Reminder {n}"))
    assert queries() == few


# --- idempotency and billing --------------------------------------------------------------------
def test_a_replayed_schedule_with_the_same_idempotency_key_does_not_act_twice(
        tenant_a, api_a, channel, template, patients, billing_contract):
    campaign = _draft(tenant_a, channel, template)
    body = {"send_at": "2026-06-11T16:00:00Z"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "schedule-flu-1"}
    first = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", body, format="json", **headers)
    replay = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", body, format="json", **headers)
    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert len(_events(tenant_a, AuditAction.CAMPAIGN_SCHEDULED)) == 1
    assert len(billing_contract.checks) == 1
    # Without the key, a second schedule is refused by the lifecycle (it is scheduled already).
    again = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", body, format="json")
    assert again.status_code == 409 and _error(again)["code"] == "illegal_transition"


def test_a_plan_that_cannot_cover_the_audience_is_a_402_with_the_numbers(
        tenant_a, api_a, channel, template, patients, billing_contract):
    billing_contract.remaining, billing_contract.included = 1, 500
    campaign = _draft(tenant_a, channel, template)
    for body in ({}, {"send_at": "2026-06-11T16:00:00Z"}):
        response = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule", body, format="json")
        assert response.status_code == 402, response.content
        error = _error(response)
        assert error["code"] == "quota_exceeded" and "needs 2 segments" in error["message"]
        numbers = error["details"][0]
        assert (numbers["needed"], numbers["included"], numbers["remaining"]) == (2, 500, 1)
    assert _state(campaign) == "draft"
    with tenant_a.scope():
        assert not CampaignRecipient.objects.filter(campaign_id=campaign.pk).exists()


def test_a_switched_off_channel_is_a_409_naming_it(tenant_a, api_a, template, patients):
    campaign = _draft(tenant_a, _channel(tenant_a), template)
    with tenant_a.scope():
        Channel.objects.filter(pk=campaign.channel_id).update(is_active=False)
    response = api_a.post(f"/api/v1/campaigns/{campaign.pk}/schedule")
    assert response.status_code == 409
    assert (_error(response)["code"], _error(response)["field"]) == ("channel_inactive", "channel")


# --- recipients ---------------------------------------------------------------------------------
def test_the_recipient_list_is_audited_with_the_key_as_actor_and_carries_no_names(
        tenant_a, key_a, channel, template, patients, django_capture_on_commit_callbacks, monkeypatch):
    api = client_with(key_a)
    campaign = _draft(tenant_a, channel, template)
    with django_capture_on_commit_callbacks(execute=True):
        api.post(f"/api/v1/campaigns/{campaign.pk}/schedule")
    with tenant_a.scope(), django_capture_on_commit_callbacks(execute=True):
        tasks.dispatch_campaign(org_id=tenant_a.org.pk, campaign_id=campaign.pk)

    def no_identities(*args, **kwargs):
        raise AssertionError("the API answers contact ids: no name or number is decrypted")

    monkeypatch.setattr("campaigns.results.contacts_access.contacts_by_id", no_identities)

    response = api.get(f"/api/v1/campaigns/{campaign.pk}/recipients?page_size=2")
    assert response.status_code == 200, response.content
    page = response.json()
    assert (page["page"], page["pages"], page["page_size"], page["previous"]) == (1, 2, 2, None)
    assert "page=2" in page["next"]
    rest = api.get(page["next"]).json()
    rows = page["results"] + rest["results"]
    assert sorted(r["contact"] for r in rows) == sorted(patients) and rest["next"] is None
    by_contact = {r["contact"]: r for r in rows}
    skipped = by_contact[patients[2]]
    assert (skipped["state"], skipped["skip_reason"], skipped["message"]) == ("skipped", "no_number", None)
    sent = by_contact[patients[0]]
    assert sent["state"] in ("sent", "delivered") and sent["sent_at"] and sent["message"]
    assert sent["skip_reason"] is None and sent["replied_at"] is None
    text = response.content.decode() + str(rest)
    assert "Ada" not in text and "+1415555" not in text

    events = _events(tenant_a, AuditAction.CAMPAIGN_RECIPIENTS_VIEWED)
    assert len(events) == 2
    assert {(e.actor_type, e.actor_id) for e in events} == {("api_key", key_a.split(".")[0])}
    assert events[0].target_id == str(campaign.pk) and events[0].detail["rows"] == 2
    assert events[0].detail["identities"] is False

    only_skipped = api.get(f"/api/v1/campaigns/{campaign.pk}/recipients?state=skipped").json()
    assert [r["contact"] for r in only_skipped["results"]] == [patients[2]]
    assert _events(tenant_a, AuditAction.CAMPAIGN_RECIPIENTS_VIEWED)[-1].detail["state"] == "skipped"
    for query in ("?state=nope", "?page=0", "?page_size=500", "?cursor=x", "?state="):
        assert api.get(f"/api/v1/campaigns/{campaign.pk}/recipients{query}").status_code == 400, query


# --- templates ----------------------------------------------------------------------------------
def test_message_templates_are_listed_read_only_for_their_ids(tenant_a, tenant_b, api_a, template):
    theirs = _template(tenant_b, name="Theirs")
    listed = api_a.get("/api/v1/message-templates").json()["results"]
    assert [(t["id"], t["name"]) for t in listed] == [(template.pk, "Flu reminder")]
    assert listed[0]["variants"][0]["language"] == "en" and "flu shot" in listed[0]["variants"][0]["body"]
    assert api_a.get(f"/api/v1/message-templates/{template.pk}").status_code == 200
    assert api_a.get(f"/api/v1/message-templates/{theirs.pk}").status_code == 404
    assert api_a.post("/api/v1/message-templates", {"name": "x"}, format="json").status_code == 405
