"""Key lifecycle: master-key rotation, data-key rotation, crypto-shredding.

- Rotating the master key re-wraps data keys only: O(organisations), not O(rows).
- Rotating an organisation's data key re-encrypts its rows in resumable batches; the old
  key keeps decrypting until every row has moved, then it is destroyed.
- Destroying an organisation's keys makes all its PHI unreadable, backups included.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps
from django.db import transaction
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django_scopes import scopes_disabled

import audit
from accounts import blind_index, crypto
from accounts.fields import encrypted_fields
from accounts.models import DataKey, Organization
from audit import AuditAction


def rotate_master_key() -> int:
    """Re-wrap every data key not yet wrapped by the newest master key; returns how many."""
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
    audit.record(AuditAction.MASTER_KEY_ROTATED, detail={"data_keys_rewrapped": count})
    return count


def models_with_phi() -> list[type]:
    return [m for m in apps.get_models() if encrypted_fields(m)]


@dataclass
class RotationProgress:
    rows_reencrypted: int
    finished: bool


def _stale_rows(model, organization_id: int, primary_id: int):
    """Rows of one organisation with any PHI value not yet under the primary key.

    The raw column is read through a Cast so the ciphertext is compared in SQL, undecrypted.
    """
    prefix = f"{crypto.PREFIX}:{primary_id}:"
    stale = Q()
    annotations = {}
    for field in encrypted_fields(model):
        alias = f"_raw_{field.attname}"
        annotations[alias] = Cast(field.attname, output_field=TextField())
        stale |= Q(**{f"{alias}__isnull": False}) & ~Q(**{f"{alias}__startswith": prefix})
    return model.objects.filter(organization_id=organization_id).annotate(**annotations).filter(stale)


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
                for field in fields:
                    setattr(row, field.attname, field.encrypt_for(row, getattr(row, field.attname)))
            with transaction.atomic():
                model.objects.bulk_update(batch, names)
            done += len(batch)


def rotate_data_key(organization: Organization, *, batch_size: int = 500) -> RotationProgress:
    """Make a new primary data key and re-encrypt the organisation's rows with it.

    Resumable: if interrupted, run it again — rows are re-read with whichever key they
    name, so a half-rotated organisation stays fully readable.
    """
    data_keys = DataKey.objects.filter(organization=organization, purpose=DataKey.Purpose.DATA)
    with transaction.atomic():
        # A retired key still present means an earlier rotation stopped half-way: resume it.
        if not data_keys.filter(is_primary=False).exists():
            current = data_keys.select_for_update().filter(is_primary=True).first()
            if current is not None:
                crypto.retire(current)
            crypto.create_data_key(organization.pk, DataKey.Purpose.DATA)
    crypto.forget_cached_keys()
    primary = data_keys.get(is_primary=True)
    old_ids = set(data_keys.filter(is_primary=False).values_list("pk", flat=True))
    total = sum(
        _reencrypt_model(m, organization.pk, primary.pk, batch_size) for m in models_with_phi()
    )
    DataKey.objects.filter(pk__in=old_ids).delete()
    crypto.forget_cached_keys()
    audit.record(AuditAction.DATA_KEY_ROTATED, organization=organization,
                 detail={"rows_reencrypted": total})
    return RotationProgress(total, True)


@transaction.atomic
def destroy_organization_keys(organization: Organization) -> None:
    """Crypto-shred: delete the organisation's keys; its PHI is unreadable from now on."""
    DataKey.objects.filter(organization=organization).delete()
    organization.keys_destroyed_at = timezone.now()
    organization.is_active = False
    organization.save(update_fields=["keys_destroyed_at", "is_active"])
    crypto.forget_cached_keys()
    blind_index.forget_derived_keys()
    audit.record(AuditAction.ORGANIZATION_KEYS_DESTROYED, organization=organization)
