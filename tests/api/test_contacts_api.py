"""The contacts API: CRUD, lookup, tags, custom fields, consent — through the services and
selectors, audited with the key as actor, errors in the one shape, no N+1 on list pages."""

from __future__ import annotations

import pytest
from django_scopes import scopes_disabled

from audit import AuditAction
from audit.models import AuditEvent
from contacts.custom_fields import define_custom_field
from contacts.models import Contact, Tag
from contacts.services import create_contact
from tests.api.conftest import client_with, make_key
from tests.factories import ContactFactory, system_actor

pytestmark = pytest.mark.django_db

ADA = {"first_name": "Ada", "last_name": "Lovelace", "phone": "(415) 555-0123", "email": "Ada@Example.org",
       "date_of_birth": "1980-02-29"}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field", "details"}
    return body["error"]


def _events(tenant, action=None):
    with tenant.scope():
        qs = AuditEvent.objects.filter(organization=tenant.org).order_by("seq")
        if action is not None:
            qs = qs.filter(action=action)
        return list(qs)


def _contact(tenant, **values) -> Contact:
    with tenant.scope():
        return ContactFactory(organization=tenant.org, **values)


# --- create / retrieve / update / delete ------------------------------------------------------
def test_a_partner_creates_a_contact_normalised_and_audited_by_its_key(tenant_a, key_a):
    response = client_with(key_a).post("/api/v1/contacts", {**ADA, "tags": ["diabetes"]}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["phone"] == "+14155550123" and body["email"] == "ada@example.org"
    assert body["origin"] == "api" and body["tags"] == ["diabetes"]
    assert body["consent"]["sms"] == {"opted_in": None, "source": "", "changed_at": None}
    created = _events(tenant_a, AuditAction.CONTACT_CREATED)[-1]
    assert (created.actor_type, created.actor_id) == ("api_key", key_a.split(".")[0])
    assert created.target_id == str(body["id"])


def test_invalid_values_are_refused_per_field_and_nothing_is_stored(tenant_a, api_a):
    response = api_a.post("/api/v1/contacts", {"phone": "12", "email": "not-an-address"}, format="json")
    assert response.status_code == 400
    error = _error(response)
    assert error["code"] == "validation_error"
    assert {d["field"] for d in error["details"]} == {"phone", "email"}
    assert "12" not in str(error) and "not-an-address" not in str(error)  # no value echoed back
    with tenant_a.scope():
        assert not Contact.objects.exists()


def test_unknown_fields_and_wrong_types_are_refused(api_a):
    assert _error(api_a.post("/api/v1/contacts", {"first_name": "A", "nickname": "x"}, format="json"))[
        "field"] == "nickname"
    assert _error(api_a.post("/api/v1/contacts", {"first_name": 42}, format="json"))["field"] == "first_name"


def test_a_second_contact_with_the_same_phone_is_a_409(tenant_a, api_a):
    first = _contact(tenant_a, phone="+14155550123")
    response = api_a.post("/api/v1/contacts", {"phone": "415 555 0123"}, format="json")
    assert response.status_code == 409
    error = _error(response)
    assert (error["code"], error["field"]) == ("duplicate_phone", "phone")
    assert str(first.pk) in error["message"]


def test_a_write_only_key_is_not_told_which_contact_has_the_phone(tenant_a):
    first = _contact(tenant_a, phone="+14155550123")
    client = client_with(make_key(tenant_a, ["contacts:write"]))
    error = _error(client.post("/api/v1/contacts", {"phone": "+14155550123"}, format="json"))
    assert error["code"] == "duplicate_phone" and str(first.pk) not in error["message"]


def test_retrieving_a_contact_is_audited_as_viewed_by_the_key(tenant_a, key_a):
    contact = _contact(tenant_a, first_name="Grace")
    response = client_with(key_a).get(f"/api/v1/contacts/{contact.pk}")
    assert response.status_code == 200 and response.json()["first_name"] == "Grace"
    viewed = _events(tenant_a, AuditAction.CONTACT_VIEWED)[-1]
    assert (viewed.actor_type, viewed.actor_id, viewed.target_id) == ("api_key", key_a.split(".")[0],
                                                                      str(contact.pk))


def test_patch_changes_only_the_given_fields_and_audits_their_names(tenant_a, api_a):
    contact = _contact(tenant_a, first_name="Grace", last_name="Hopper")
    response = api_a.patch(f"/api/v1/contacts/{contact.pk}", {"last_name": "Murray"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["first_name"], response.json()["last_name"]) == ("Grace", "Murray")
    assert _events(tenant_a, AuditAction.CONTACT_UPDATED)[-1].detail == {"fields": ["last_name"]}


def test_a_write_only_key_cannot_read_a_contact_by_patching_it(tenant_a):
    contact = _contact(tenant_a)
    client = client_with(make_key(tenant_a, ["contacts:write"]))
    assert client.patch(f"/api/v1/contacts/{contact.pk}", {}, format="json").status_code == 403
    assert client.get(f"/api/v1/contacts/{contact.pk}").status_code == 403


def test_a_read_key_cannot_write_and_nothing_changes(tenant_a):
    contact = _contact(tenant_a, first_name="Grace")
    client = client_with(make_key(tenant_a, ["contacts:read"]))
    assert _error(client.patch(f"/api/v1/contacts/{contact.pk}", {"first_name": "X"}, format="json"))[
        "code"] == "permission_denied"
    assert client.delete(f"/api/v1/contacts/{contact.pk}").status_code == 403
    assert client.post("/api/v1/contacts", ADA, format="json").status_code == 403
    with tenant_a.scope():
        assert Contact.objects.get().first_name == "Grace"


def test_deleting_a_contact_removes_it_and_audits(tenant_a, api_a):
    contact = _contact(tenant_a)
    assert api_a.delete(f"/api/v1/contacts/{contact.pk}").status_code == 204
    with tenant_a.scope():
        assert not Contact.objects.filter(pk=contact.pk).exists()
    assert _events(tenant_a, AuditAction.CONTACT_DELETED)[-1].actor_type == "api_key"
    assert _error(api_a.delete(f"/api/v1/contacts/{contact.pk}"))["code"] == "not_found"


def test_an_idempotent_create_retried_makes_one_contact(tenant_a, api_a):
    headers = {"HTTP_IDEMPOTENCY_KEY": "create-ada-1"}
    first = api_a.post("/api/v1/contacts", ADA, format="json", **headers)
    again = api_a.post("/api/v1/contacts", ADA, format="json", **headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    with tenant_a.scope():
        assert Contact.objects.count() == 1


# --- custom fields -----------------------------------------------------------------------------
def test_custom_values_are_read_and_written_on_the_contact(tenant_a, api_a):
    with tenant_a.scope():
        define_custom_field(actor=system_actor(tenant_a.org), organization=tenant_a.org, label="Visits",
                            field_type="number", key="visits")
    fields = api_a.get("/api/v1/custom-fields").json()["results"]
    assert [(f["key"], f["field_type"]) for f in fields] == [("visits", "number")]
    contact = _contact(tenant_a)
    url = f"/api/v1/contacts/{contact.pk}"
    response = api_a.patch(url, {"custom_values": {"visits": "3"}}, format="json")
    assert response.status_code == 200 and response.json()["custom_values"] == {"visits": 3}
    bad = api_a.patch(url, {"custom_values": {"insurer": "x"}}, format="json")
    assert _error(bad)["field"] == "custom_values"
    wrong = api_a.patch(url, {"custom_values": {"visits": "many"}}, format="json")
    assert _error(wrong)["field"] == "custom_values"


# --- lookup ------------------------------------------------------------------------------------
def test_lookup_by_phone_or_email_finds_the_contact_and_audits_without_the_value(tenant_a, key_a):
    contact = _contact(tenant_a, phone="+14155550123", email="ada@example.org")
    client = client_with(key_a)
    by_phone = client.post("/api/v1/contacts/lookup", {"phone": "(415) 555-0123"}, format="json")
    by_email = client.post("/api/v1/contacts/lookup", {"email": "ADA@example.org"}, format="json")
    assert by_phone.json()["id"] == by_email.json()["id"] == contact.pk
    events = _events(tenant_a, AuditAction.CONTACT_LOOKED_UP)
    assert [e.detail for e in events] == [{"by": "phone", "found": True}, {"by": "email", "found": True}]
    assert all(e.actor_type == "api_key" and e.actor_id == key_a.split(".")[0] for e in events)
    assert "555" not in str([e.detail for e in events])


def test_a_lookup_miss_is_a_404_and_still_audited(tenant_a, api_a):
    response = api_a.post("/api/v1/contacts/lookup", {"phone": "+14155550199"}, format="json")
    assert response.status_code == 404 and _error(response)["code"] == "not_found"
    assert _events(tenant_a, AuditAction.CONTACT_LOOKED_UP)[-1].detail == {"by": "phone", "found": False}


def test_lookup_needs_exactly_one_of_phone_or_email(api_a):
    assert api_a.post("/api/v1/contacts/lookup", {}, format="json").status_code == 400
    both = api_a.post("/api/v1/contacts/lookup", {"phone": "+14155550123", "email": "a@b.org"}, format="json")
    assert both.status_code == 400
    assert _error(api_a.post("/api/v1/contacts/lookup", {"phone": "abc"}, format="json"))["field"] == "phone"


def test_lookup_never_finds_another_organisations_contact(tenant_a, tenant_b, api_b):
    _contact(tenant_a, phone="+14155550123")
    assert api_b.post("/api/v1/contacts/lookup", {"phone": "+14155550123"}, format="json").status_code == 404


def test_lookup_is_a_post_only(api_a):
    assert api_a.get("/api/v1/contacts/lookup").status_code == 405


# --- tags and consent ----------------------------------------------------------------------------
def test_tags_are_added_and_removed_on_a_contact_and_listed(tenant_a, api_a):
    contact = _contact(tenant_a)
    added = api_a.post(f"/api/v1/contacts/{contact.pk}/tags", {"add": ["flu-2026", "spanish"]}, format="json")
    assert added.status_code == 200 and added.json() == {"tags": ["flu-2026", "spanish"]}
    removed = api_a.post(f"/api/v1/contacts/{contact.pk}/tags", {"remove": ["spanish"]}, format="json")
    assert removed.json() == {"tags": ["flu-2026"]}
    assert sorted(t["name"] for t in api_a.get("/api/v1/tags").json()["results"]) == ["flu-2026", "spanish"]
    tagged = _events(tenant_a, AuditAction.CONTACTS_TAGGED)
    assert [e.detail["removed"] for e in tagged] == [False, False, True]
    assert api_a.post(f"/api/v1/contacts/{contact.pk}/tags", {}, format="json").status_code == 400


def test_consent_is_set_per_channel_with_source_api(tenant_a, api_a):
    contact = _contact(tenant_a)
    response = api_a.post(f"/api/v1/contacts/{contact.pk}/consent", {"channel": "sms", "opted_in": False},
                          format="json")
    assert response.status_code == 200
    assert response.json()["sms"]["opted_in"] is False and response.json()["sms"]["source"] == "api"
    assert response.json()["whatsapp"]["opted_in"] is None
    changed = _events(tenant_a, AuditAction.CONSENT_CHANGED)[-1]
    assert changed.detail == {"channel": "sms", "opted_in": False, "source": "api"}
    assert changed.actor_type == "api_key"
    assert api_a.post(f"/api/v1/contacts/{contact.pk}/consent", {"channel": "sms", "opted_in": "no"},
                      format="json").status_code == 400


# --- the list ------------------------------------------------------------------------------------
def test_the_list_filters_by_tag_consent_and_creation_time(tenant_a, api_a):
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        tagged = create_contact(actor=actor, organization=tenant_a.org, phone="+14155550101", tags=["vip"])
        opted_out = create_contact(actor=actor, organization=tenant_a.org, phone="+14155550102")
        Contact.objects.filter(pk=opted_out.pk).update(sms_opted_in=False)
        tag = Tag.objects.get(name="vip")

    def ids(query: str) -> set[int]:
        response = api_a.get(f"/api/v1/contacts?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"tag={tag.pk}") == {tagged.pk}
    assert ids("consent=opted_out") == {opted_out.pk}
    assert ids("consent=unknown") == {tagged.pk}
    assert ids("consent=opted_out&consent_channel=whatsapp") == set()
    assert ids("created_since=2999-01-01T00:00:00Z") == set()
    assert _error(api_a.get("/api/v1/contacts?consent="))["field"] == "consent"
    assert api_a.get("/api/v1/contacts?tag=abc").status_code == 400


def test_a_list_page_is_one_audit_event_naming_the_filters_not_their_values(tenant_a, key_a):
    for n in range(3):
        _contact(tenant_a, phone=f"+1415555020{n}")
    response = client_with(key_a).get("/api/v1/contacts?page_size=2&consent=unknown")
    assert len(response.json()["results"]) == 2 and response.json()["next"]
    listed = _events(tenant_a, AuditAction.CONTACTS_LIST_VIEWED)
    assert len(listed) == 1
    assert listed[0].detail == {"rows": 2, "filters": ["consent"], "via": "api"}
    assert (listed[0].actor_type, listed[0].actor_id) == ("api_key", key_a.split(".")[0])


def test_a_page_of_100_contacts_costs_the_same_queries_as_a_page_of_1(tenant_a, api_a,
                                                                      django_assert_max_num_queries):
    with tenant_a.scope():
        actor = system_actor(tenant_a.org)
        for n in range(100):
            create_contact(actor=actor, organization=tenant_a.org, first_name=f"P{n}",
                           phone=f"+1415555{3000 + n:04d}", tags=["vip"] if n % 2 else [])
    api_a.get("/api/v1/contacts?page_size=1")  # warm: key last-used, org data key, plan lookups
    # The page, its tags, the audit event (chain head + insert), key lookup and throttle: a constant.
    with django_assert_max_num_queries(12) as small:
        one = api_a.get("/api/v1/contacts?page_size=1")
    with django_assert_max_num_queries(len(small.captured_queries)) as big:
        hundred = api_a.get("/api/v1/contacts?page_size=100")
    assert len(one.json()["results"]) == 1 and len(hundred.json()["results"]) == 100
    assert len(big.captured_queries) == len(small.captured_queries)
    assert sum(1 for row in hundred.json()["results"] if row["tags"] == ["vip"]) == 50


def test_another_organisations_contacts_never_list(tenant_a, tenant_b, api_b):
    _contact(tenant_a)
    assert api_b.get("/api/v1/contacts").json()["results"] == []
    with scopes_disabled():
        assert Contact.objects.filter(organization=tenant_a.org).count() == 1


def test_a_looked_up_phone_or_email_is_never_logged_or_audited(tenant_a, api_a, caplog):
    _contact(tenant_a, phone="+14155550177", email="grace@example.org")
    with caplog.at_level("DEBUG"):
        api_a.post("/api/v1/contacts/lookup", {"phone": "+14155550177"}, format="json")
        api_a.post("/api/v1/contacts/lookup", {"email": "nobody@example.org"}, format="json")
        api_a.post("/api/v1/contacts/lookup", {"phone": "+1415555017"}, format="json")  # invalid
    logged = " ".join(record.getMessage() for record in caplog.records)
    audited = str([(e.detail, e.target_id) for e in _events(tenant_a, AuditAction.CONTACT_LOOKED_UP)])
    for value in ("4155550177", "415555017", "nobody@example.org"):
        assert value not in logged and value not in audited
