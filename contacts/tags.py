"""Tags: create, rename and delete them, put them on contacts and take them off — audited.

Tag names are not PHI by policy (staff are told so), but the audit detail still carries
only ids and counts. Every function checks the actor's permission and works in the actor's
organisation only: another organisation's contact ids are silently out of reach.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

import audit
from accounts import validators
from accounts.actor import Actor
from accounts.roles import Perm
from audit import AuditAction
from contacts.models import Contact, ContactTag, Tag

TAG_MAX = 50


def _name(raw: str) -> str:
    name = validators.validate_length(raw or "", max_length=TAG_MAX, label="tag name", field="name")
    if not name:
        raise validators.InvalidValue("Type a tag name, e.g. 'flu-2025'.", field="name")
    return name


def _refuse_taken(actor: Actor, name: str, exclude_pk: int | None = None) -> None:
    taken = Tag.objects.filter(organization_id=actor.organization_id, name=name)
    if exclude_pk is not None:
        taken = taken.exclude(pk=exclude_pk)
    if taken.exists():
        raise validators.InvalidValue("A tag with this name exists already — use that tag, or choose "
                                      "another name.", field="name")


@transaction.atomic
def create_tag(*, actor: Actor, name: str) -> Tag:
    """A new tag of the actor's organisation (TAG_CREATED). Refuses a name already in use."""
    actor.require(Perm.CONTACTS_EDIT)
    name = _name(name)
    _refuse_taken(actor, name)
    tag = Tag.objects.create(organization_id=actor.organization_id, name=name)
    audit.record(AuditAction.TAG_CREATED, target=tag, actor=actor)
    return tag


@transaction.atomic
def rename_tag(*, actor: Actor, tag: Tag, name: str) -> Tag:
    """Give a tag a new name (TAG_RENAMED); the contacts carrying it keep it."""
    actor.require(Perm.CONTACTS_EDIT, tag)
    name = _name(name)
    # Compared with the stored row: a door (the admin's form) may have set the new name already.
    stored = Tag.objects.filter(organization_id=actor.organization_id, pk=tag.pk)
    if name != stored.values_list("name", flat=True).first():
        _refuse_taken(actor, name, exclude_pk=tag.pk)
        tag.name = name
        tag.save(update_fields=["name"])
        audit.record(AuditAction.TAG_RENAMED, target=tag, actor=actor)
    return tag


@transaction.atomic
def delete_tag(*, actor: Actor, tag: Tag) -> int:
    """Delete a tag and take it off every contact (TAG_DELETED with that count); returns the count.

    Deleting changes every contact that carries it, so it needs the delete permission.
    """
    actor.require(Perm.CONTACTS_DELETE, tag)
    count = ContactTag.objects.filter(organization_id=actor.organization_id, tag=tag).count()
    audit.record(AuditAction.TAG_DELETED, target=tag, actor=actor, detail={"contacts": count})
    tag.delete()
    return count


def tags_named(*, actor: Actor, names: Iterable[str]) -> list[Tag]:
    """The organisation's tags with these names, creating the missing ones (no audit of its own:
    the caller's event covers it). For services that tag as part of a bigger write."""
    actor.require(Perm.CONTACTS_EDIT)
    wanted = {_name(n) for n in names if n and n.strip()}
    if not wanted:
        return []
    existing = set(Tag.objects.filter(organization_id=actor.organization_id, name__in=wanted)
                   .values_list("name", flat=True))
    Tag.objects.bulk_create([Tag(organization_id=actor.organization_id, name=n)
                             for n in sorted(wanted - existing)], ignore_conflicts=True)
    return list(Tag.objects.filter(organization_id=actor.organization_id, name__in=wanted))


def attach(*, actor: Actor, contact_ids: Iterable[int], tags: list[Tag]) -> None:
    """Put ``tags`` on contacts whose ids the caller has already checked (idempotent; no audit of its
    own: the caller's event covers it)."""
    actor.require(Perm.CONTACTS_EDIT)
    for tag in tags:
        actor.require_same_organization(tag)
    ContactTag.objects.bulk_create(
        [ContactTag(organization_id=t.organization_id, contact_id=cid, tag=t)
         for cid in contact_ids for t in tags],
        ignore_conflicts=True, batch_size=2000,
    )


def _own_contact_ids(actor: Actor, contact_ids: Iterable[int]) -> list[int]:
    return list(Contact.objects.filter(organization_id=actor.organization_id, pk__in=list(contact_ids))
                .values_list("pk", flat=True))


@transaction.atomic
def tag_contacts(*, actor: Actor, contact_ids: Iterable[int], tag_name: str) -> int:
    """Put one tag (created if new) on many contacts; returns how many newly carry it.

    Ids of other organisations' contacts are ignored. Audited as CONTACTS_TAGGED (tag id, count).
    """
    actor.require(Perm.CONTACTS_EDIT)
    name = _name(tag_name)
    ids = _own_contact_ids(actor, contact_ids)
    found = tags_named(actor=actor, names=[name])
    if not found:  # only when called inside another organisation's scope: nothing of its to tag
        return 0
    tag = found[0]
    before = ContactTag.objects.filter(tag=tag, contact_id__in=ids).count()
    attach(actor=actor, contact_ids=ids, tags=[tag])
    count = len(ids) - before
    if count:
        audit.record(AuditAction.CONTACTS_TAGGED, organization=actor.organization_id, actor=actor,
                     detail={"tag_id": tag.pk, "removed": False, "contacts": count})
    return count


@transaction.atomic
def untag_contacts(*, actor: Actor, contact_ids: Iterable[int], tag_name: str) -> int:
    """Take one tag off many contacts; returns how many lost it (audited like tagging)."""
    actor.require(Perm.CONTACTS_EDIT)
    name = _name(tag_name)
    ids = _own_contact_ids(actor, contact_ids)
    tag = Tag.objects.filter(organization_id=actor.organization_id, name=name).first()
    count = ContactTag.objects.filter(tag=tag, contact_id__in=ids).delete()[0] if tag else 0
    if count:
        audit.record(AuditAction.CONTACTS_TAGGED, organization=actor.organization_id, actor=actor,
                     detail={"tag_id": tag.pk, "removed": True, "contacts": count})
    return count
