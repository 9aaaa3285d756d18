"""Every public contacts service and selector checks its actor: a role without the permission is
refused (403), and another organisation's actor never reaches this organisation's rows.

The list of functions is discovered from the modules, so a new public function without a row
here fails the test (add its call below, or to PURE with the reason it needs no actor).
"""

from __future__ import annotations

import inspect

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django_scopes import scopes_disabled

from accounts.actor import Actor
from accounts.models import Membership
from accounts.roles import ROLE_PERMISSIONS, Perm, Role
from contacts import custom_fields, searches, selectors, services, tags
from contacts.models import Contact, ContactTag, CustomField, ImportJob, Tag
from contacts.selectors import ContactFilters
from tests.factories import system_actor

MODULES = (services, selectors, custom_fields, tags, searches)

# Public functions that take no actor, and why.
PURE = {
    "custom_fields.clean_value": "validates one value against a definition the caller holds",
    "custom_fields.converter": "builds a validator for one definition (the importer's hot path)",
    "custom_fields.clean_values": "validates values against definitions the caller read via definitions()",
    "custom_fields.unique_key": "derives a key from a label and the keys the caller passes",
    "selectors.consent_state": "a predicate over a contact the caller loaded through a selector",
    "selectors.is_opted_out": "a predicate over a contact the caller loaded through a selector",
    "selectors.search_kind": "classifies typed text (phone/e-mail/name); reads nothing",
    "services.is_phone_conflict": "classifies a database error",
}


def _public(module) -> list[str]:
    return sorted(f"{module.__name__.split('.')[-1]}.{name}" for name, obj in vars(module).items()
                  if inspect.isfunction(obj) and obj.__module__ == module.__name__
                  and not name.startswith("_"))


@pytest.fixture
def world(tenant_a, tenant_b):
    with tenant_a.scope():
        setup = system_actor(tenant_a.org)
        contact = services.create_contact(actor=setup, organization=tenant_a.org, first_name="Marie",
                                          phone="+14155550142", tags=["vip"])
        tag = Tag.objects.get(name="vip")
        field = custom_fields.define_custom_field(actor=setup, organization=tenant_a.org, label="Insurer",
                                                  field_type="text")
        job = ImportJob.objects.create(organization=tenant_a.org, file_format="csv", original_name="x.csv")
    return {"org": tenant_a.org, "contact": contact, "tag": tag, "field": field, "job": job,
            "tenant_a": tenant_a, "tenant_b": tenant_b}


# name → (permission, call(actor, world)). The call is made inside organisation A's scope.
CALLS = {
    "services.check_contact": (Perm.CONTACTS_EDIT, lambda a, w: services.check_contact(
        actor=a, organization=w["org"], values={"first_name": "X"})),
    "services.create_contact": (Perm.CONTACTS_EDIT, lambda a, w: services.create_contact(
        actor=a, organization=w["org"], phone="+14155550199")),
    "services.update_contact": (Perm.CONTACTS_EDIT, lambda a, w: services.update_contact(
        actor=a, contact=w["contact"], first_name="Changed")),
    "services.delete_contact": (Perm.CONTACTS_DELETE, lambda a, w: services.delete_contact(
        actor=a, contact=w["contact"])),
    "services.set_consent": (Perm.CONTACTS_EDIT, lambda a, w: services.set_consent(
        actor=a, contact=w["contact"], channel="sms", opted_in=False, source="staff")),
    "selectors.contact_count": (Perm.CONTACTS_VIEW, lambda a, w: selectors.contact_count(actor=a)),
    "selectors.get_contact": (Perm.CONTACTS_VIEW, lambda a, w: selectors.get_contact(
        actor=a, contact_id=w["contact"].pk)),
    "selectors.find_by_phone": (Perm.CONTACTS_VIEW, lambda a, w: selectors.find_by_phone(
        actor=a, organization=w["org"], raw_phone="+14155550142")),
    "selectors.contact_by_phone_index": (Perm.CONTACTS_VIEW, lambda a, w: selectors.contact_by_phone_index(
        actor=a, organization=w["org"], phone_index=w["contact"].phone_index)),
    "selectors.search_contacts": (Perm.CONTACTS_VIEW, lambda a, w: list(selectors.search_contacts(
        actor=a, organization=w["org"], query="marie"))),
    "selectors.filter_contacts": (Perm.CONTACTS_VIEW, lambda a, w: list(selectors.filter_contacts(
        actor=a, organization=w["org"]))),
    "selectors.contact_list_page": (Perm.CONTACTS_VIEW, lambda a, w: selectors.contact_list_page(
        actor=a, organization=w["org"], filters=ContactFilters()).rows),
    "selectors.tags": (Perm.CONTACTS_VIEW, lambda a, w: list(selectors.tags(actor=a))),
    "selectors.get_tag": (Perm.CONTACTS_VIEW, lambda a, w: selectors.get_tag(actor=a, tag_id=w["tag"].pk)),
    "selectors.tags_by_contact": (Perm.CONTACTS_VIEW, lambda a, w: selectors.tags_by_contact(
        actor=a, contact_ids=[w["contact"].pk])),
    "selectors.get_import_job": (Perm.CONTACTS_IMPORT, lambda a, w: selectors.get_import_job(
        actor=a, job_uuid=w["job"].uuid)),
    "selectors.recent_import_jobs": (Perm.CONTACTS_IMPORT,
                                     lambda a, w: selectors.recent_import_jobs(actor=a)),
    "custom_fields.definitions": (Perm.CONTACTS_VIEW, lambda a, w: custom_fields.definitions(actor=a)),
    "custom_fields.define_custom_field": (Perm.CONTACTS_EDIT, lambda a, w: custom_fields.define_custom_field(
        actor=a, organization=w["org"], label="Allergies", field_type="text")),
    "custom_fields.update_custom_field": (Perm.ORG_SETTINGS_MANAGE,
                                          lambda a, w: custom_fields.update_custom_field(
        actor=a, field=w["field"], label="Payer", field_type="text")),
    "custom_fields.delete_custom_field": (Perm.ORG_SETTINGS_MANAGE,
                                          lambda a, w: custom_fields.delete_custom_field(
        actor=a, field=w["field"])),
    "tags.create_tag": (Perm.CONTACTS_EDIT, lambda a, w: tags.create_tag(actor=a, name="new-tag")),
    "tags.rename_tag": (Perm.CONTACTS_EDIT, lambda a, w: tags.rename_tag(actor=a, tag=w["tag"],
                                                                         name="renamed")),
    "tags.delete_tag": (Perm.CONTACTS_DELETE, lambda a, w: tags.delete_tag(actor=a, tag=w["tag"])),
    "tags.tags_named": (Perm.CONTACTS_EDIT, lambda a, w: tags.tags_named(actor=a, names=["vip"])),
    "tags.attach": (Perm.CONTACTS_EDIT, lambda a, w: tags.attach(
        actor=a, contact_ids=[w["contact"].pk], tags=[w["tag"]])),
    "tags.tag_contacts": (Perm.CONTACTS_EDIT, lambda a, w: tags.tag_contacts(
        actor=a, contact_ids=[w["contact"].pk], tag_name="flu")),
    "tags.untag_contacts": (Perm.CONTACTS_EDIT, lambda a, w: tags.untag_contacts(
        actor=a, contact_ids=[w["contact"].pk], tag_name="vip")),
    "searches.save_search": (Perm.CONTACTS_VIEW, lambda a, w: searches.save_search(
        actor=a, filters=ContactFilters(query="marie"))),
    "searches.load_search": (Perm.CONTACTS_VIEW, lambda a, w: searches.load_search(actor=a, token="x")),
}


def test_every_public_function_is_in_the_matrix_or_pure():
    found = {name for module in MODULES for name in _public(module)}
    assert found - set(CALLS) - set(PURE) == set(), "add the new public function to CALLS (or PURE, with why)"
    assert set(CALLS) - found == set(), "CALLS names a function that no longer exists"


def _wrong_role_actor(tenant, perm: Perm) -> Actor:
    """The highest role that lacks ``perm``, or a key with no scopes when every role has it."""
    for role in (Role.ADMIN, Role.STAFF, Role.VIEWER):
        if perm not in ROLE_PERMISSIONS[role]:
            with scopes_disabled():  # test set-up
                return Actor.member(Membership.objects.get(organization=tenant.org, role=role))
    return Actor.api_key(key_id="no-scopes", organization_id=tenant.org.pk, permissions=[])


def _owner_of(tenant) -> Actor:
    with scopes_disabled():  # test set-up
        return Actor.member(Membership.objects.get(organization=tenant.org, role=Role.OWNER))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_role_without_the_permission_is_refused(world, name):
    perm, call = CALLS[name]
    actor = _wrong_role_actor(world["tenant_a"], perm)
    with world["tenant_a"].scope(), pytest.raises(PermissionDenied):
        call(actor, world)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_the_owner_of_the_organisation_may(world, name):
    """The matrix is not vacuous: the same calls succeed for the organisation's own owner."""
    _, call = CALLS[name]
    with world["tenant_a"].scope():
        call(_owner_of(world["tenant_a"]), world)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_another_organisations_actor_never_reaches_this_organisations_rows(world, name):
    """Even inside organisation A's scope (a misrouted call), B's owner is refused, answered "not
    found", or sees and changes nothing of A's."""
    _, call = CALLS[name]
    outsider = _owner_of(world["tenant_b"])
    contact = world["contact"]
    with world["tenant_a"].scope():
        try:
            result = call(outsider, world)
        except (PermissionDenied, Http404):
            result = None
        # Nothing of A's changed, and nothing of A's came back.
        fresh = Contact.objects.get(pk=contact.pk)
        assert (fresh.first_name, fresh.sms_opted_in) == ("Marie", None)
        assert Tag.objects.filter(organization=world["org"]).values_list("name", flat=True).get() == "vip"
        assert ContactTag.objects.filter(organization=world["org"]).count() == 1
        assert CustomField.objects.filter(organization=world["org"]).values_list("label",
                                                                                 flat=True).get() == \
            "Insurer"
        assert Contact.objects.filter(organization=world["org"]).count() == 1
    assert not _mentions_org_a(result, world), f"{name} returned organisation A's data to B's actor"


def _mentions_org_a(result, world) -> bool:
    org_id = world["org"].pk
    if result is None or isinstance(result, bool | str):
        return False
    if isinstance(result, int):  # counts of A's rows seen or touched: B must get 0
        return result > 0
    if isinstance(result, dict):  # {contact id: tag names} or {key: CustomField}
        return any(isinstance(k, int) or getattr(v, "organization_id", None) == org_id
                   for k, v in result.items())
    if isinstance(result, list | tuple):
        return any(_mentions_org_a(item[0] if isinstance(item, tuple) else item, world) for item in result)
    return getattr(result, "organization_id", None) == org_id
