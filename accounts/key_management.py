"""Key lifecycle: master-key rotation, data-key rotation, crypto-shredding.

- Rotating the master key re-wraps data keys only: O(organisations), not O(rows).
- Rotating an organisation's data key re-encrypts its rows in resumable batches; the old
  key keeps decrypting until every row has moved, then it is destroyed.
- Destroying an organisation's keys makes all its PHI unreadable, backups included.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django_scopes import scopes_disabled

import audit
from accounts import blind_index, crypto
from accounts.actor import Actor
from accounts.fields import encrypted_fields
from accounts.models import DataKey, Organization
from audit import AuditAction


def _require_key_job(actor: Actor, organization: Organization | None = None) -> None:
    """Keys are managed by CareRelay's own operations jobs only (never a member or an API key);
    a job bound to one organisation manages only that organisation's keys."""
    if not isinstance(actor, Actor) or not actor.is_system:
        raise PermissionDenied("Only CareRelay's operations jobs manage encryption keys.")
    if organization is None:
        if not actor.is_platform:
            raise PermissionDenied("Platform-wide key operations need a platform job.")
    elif not actor.is_platform:
        actor.require_same_organization(organization)


def rotate_master_key(*, actor: Actor) -> int:
    """Re-wrap every data key not yet wrapped by the newest master key; returns how many.
    A platform job only (Actor.platform)."""
    _require_key_job(actor)
    newest = crypto.master_keys()[0].key_id
    count = 0
    for data_key in DataKey.objects.exclude(master_key_id=newest).iterator():
        raw = crypto.unwrap_key(data_key.master_key_id, bytes(data_key.wrapped_key),
                                data_key.organization_id, data_key.purpose)
        data_key.master_key_id, data_key.wrapped_key = crypto.wrap_key(
            raw, data_key.organization_id, data_key.purpose
        )
        data_key.save(update_fields=["master_key_id", "wrapped_key"])
        count += 1
    crypto.forget_cached_keys()
    resealed = reseal_second_factor_secrets()
    audit.record(AuditAction.MASTER_KEY_ROTATED, actor=actor,
                 detail={"data_keys_rewrapped": count, "second_factor_secrets_resealed": resealed})
    return count


def reseal_second_factor_secrets() -> int:
    """Seal every TOTP seed and 2FA phone number again under the newest master key (O(users)):
    after a master-key rotation the old key can leave PHI_MASTER_KEYS without locking anyone out."""
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from two_factor.plugins.phonenumber.models import PhoneDevice

    count = 0
    with transaction.atomic():
        for model, field_name in ((TOTPDevice, "key"), (PhoneDevice, "number")):
            for device in model.objects.select_for_update().iterator():
                device.save(update_fields=[field_name])  # read unsealed, written sealed anew
                count += 1
    return count


def models_with_phi() -> list[type]:
    return [m for m in apps.get_models() if encrypted_fields(m)]


@dataclass
class RotationProgress:
    rows_reencrypted: int
    finished: bool
    # The keys this rotation made decrypt-only; purge_retired_data_keys deletes them later.
    retired_key_ids: list[int] = field(default_factory=list)


@dataclass
class PurgeResult:
    deleted_key_ids: list[int]
    # Retired keys kept: still inside the cache lifetime, or a row still named them.
    kept_key_ids: list[int]


def _phi_filter(model, prefix: str, *, under: bool) -> tuple[dict, Q]:
    """Annotations and a filter for rows with any PHI value (not) starting with `prefix`.

    The raw column is read through a Cast so the ciphertext is compared in SQL, undecrypted.
    """
    condition = Q()
    annotations = {}
    for field_ in encrypted_fields(model):
        alias = f"_raw_{field_.attname}"
        annotations[alias] = Cast(field_.attname, output_field=TextField())
        starts = Q(**{f"{alias}__startswith": prefix})
        condition |= Q(**{f"{alias}__isnull": False}) & (starts if under else ~starts)
    return annotations, condition


def _stale_rows(model, organization_id: int, primary_id: int):
    """Rows of one organisation with any PHI value not yet under the primary key."""
    annotations, stale = _phi_filter(model, f"{crypto.PREFIX}:{primary_id}:", under=False)
    return model.objects.filter(organization_id=organization_id).annotate(**annotations).filter(stale)


def rows_under_key(organization_id: int, key_id: int) -> int:
    """How many rows of the organisation still hold a value that data key `key_id` encrypted."""
    total = 0
    with scopes_disabled():  # ops code: key management spans the organisation's tables
        for model in models_with_phi():
            annotations, under = _phi_filter(model, f"{crypto.PREFIX}:{key_id}:", under=True)
            total += model.objects.filter(organization_id=organization_id).annotate(
                **annotations).filter(under).count()
    return total


def _reencrypt_model(model, organization_id: int, primary_id: int, batch_size: int) -> int:
    fields = encrypted_fields(model)
    names = [f.attname for f in fields]
    done = 0
    with scopes_disabled():  # ops code: rotation runs outside any request scope
        while True:
            batch = list(_stale_rows(model, organization_id, primary_id).order_by("pk")[:batch_size])
            if not batch:
                return done
            for row in batch:
                # Loading decrypted each value with whichever key it names; re-encrypt now.
                for field_ in fields:
                    setattr(row, field_.attname, field_.encrypt_for(row, getattr(row, field_.attname)))
            with transaction.atomic():
                model.objects.bulk_update(batch, names)
            done += len(batch)


def _rotation_unfinished(organization_id: int, primary_id: int) -> bool:
    with scopes_disabled():  # ops code
        return any(_stale_rows(m, organization_id, primary_id).exists() for m in models_with_phi())


def rotate_data_key(organization: Organization, *, actor: Actor, batch_size: int = 500) -> RotationProgress:
    """Make a new primary data key, retire the old one to decrypt-only, and re-encrypt the
    organisation's rows with the new one.

    The retired key is not deleted here: another process may still hold it as its primary for up
    to PRIMARY_RECHECK_SECONDS, and any process may hold it to decrypt for the key cache's
    lifetime. `purge_retired_data_keys` deletes it once both have passed and no row names it.

    Resumable: if interrupted, run it again — rows are re-read with whichever key they name,
    so a half-rotated organisation stays fully readable.
    """
    _require_key_job(actor, organization)
    data_keys = DataKey.objects.filter(organization=organization, purpose=DataKey.Purpose.DATA)
    retired: list[int] = []
    with transaction.atomic():
        current = data_keys.select_for_update().filter(is_primary=True).first()
        # Rows not yet under the primary key mean an earlier rotation stopped half-way: resume it.
        if current is None or not _rotation_unfinished(organization.pk, current.pk):
            if current is not None:
                crypto.retire(current)
                retired.append(current.pk)
            crypto.create_data_key(organization.pk, DataKey.Purpose.DATA)
    crypto.forget_cached_keys()
    primary = data_keys.get(is_primary=True)
    total = sum(
        _reencrypt_model(m, organization.pk, primary.pk, batch_size) for m in models_with_phi()
    )
    audit.record(AuditAction.DATA_KEY_ROTATED, organization=organization, actor=actor,
                 detail={"rows_reencrypted": total})
    return RotationProgress(total, True, retired)


def purge_retired_data_keys(organization: Organization | None = None, *, actor: Actor,
                            batch_size: int = 500) -> PurgeResult:
    """Delete decrypt-only data keys that nothing can still need (run from beat or by hand).

    A retired key is deleted only when (1) the key cache's lifetime has passed since it was
    retired, so no process still holds it, and (2) after re-encrypting any row written with it
    late (a process that had not yet noticed the retirement), a scan finds no row it encrypted.
    """
    _require_key_job(actor, organization)
    cutoff = timezone.now() - timedelta(seconds=crypto.KEY_CACHE_LIFETIME_SECONDS)
    retired = DataKey.objects.filter(state=DataKey.State.DECRYPT_ONLY, purpose=DataKey.Purpose.DATA)
    if organization is not None:
        retired = retired.filter(organization=organization)
    deleted, kept = [], []
    for key in retired.order_by("pk"):
        if key.retired_at is None or key.retired_at > cutoff:
            kept.append(key.pk)
            continue
        primary = DataKey.objects.filter(organization_id=key.organization_id, purpose=key.purpose,
                                         is_primary=True).first()
        moved = 0
        if primary is not None:
            moved = sum(_reencrypt_model(m, key.organization_id, primary.pk, batch_size)
                        for m in models_with_phi())
        with transaction.atomic():
            locked = DataKey.objects.select_for_update().filter(pk=key.pk).first()
            if locked is None or rows_under_key(key.organization_id, key.pk):
                kept.append(key.pk)  # still decrypts a row: never delete it
                continue
            locked.delete()
            audit.record(AuditAction.DATA_KEY_PURGED, organization=key.organization_id, actor=actor,
                         detail={"data_key_id": key.pk, "late_rows_reencrypted": moved})
        deleted.append(key.pk)
    if deleted:
        crypto.forget_cached_keys()
    return PurgeResult(deleted, kept)


@transaction.atomic
def destroy_organization_keys(organization: Organization, *, actor: Actor) -> None:
    """Crypto-shred: delete the organisation's keys; its PHI is unreadable from now on."""
    _require_key_job(actor, organization)
    DataKey.objects.filter(organization=organization).delete()
    organization.keys_destroyed_at = timezone.now()
    organization.is_active = False
    organization.save(update_fields=["keys_destroyed_at", "is_active"])
    crypto.forget_cached_keys()
    blind_index.forget_derived_keys()
    audit.record(AuditAction.ORGANIZATION_KEYS_DESTROYED, organization=organization, actor=actor)
