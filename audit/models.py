"""Append-only, hash-chained audit events.

Each organisation has its own chain (events without an organisation share the
"platform" chain). An event's hash covers its content and the previous event's hash,
so altering, removing or reordering a row breaks verification from that row on.
"""

from __future__ import annotations

from django.db import models
from django_scopes import ScopedManager

from audit.actions import AuditAction

PLATFORM_CHAIN = "platform"
ZERO_HASH = "0" * 64  # the "previous hash" of a chain's first event


def chain_key_for(organization_id: int | None) -> str:
    return f"org:{organization_id}" if organization_id else PLATFORM_CHAIN


class AuditEvent(models.Model):
    """One audited action. Written only by audit.record(); never updated or deleted."""

    organization = models.ForeignKey(
        "accounts.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,  # the log outlives nothing it describes
        related_name="+",
        db_index=False,  # (organization, created_at) below leads with it; every append pays each index
    )
    chain_key = models.CharField(max_length=32, editable=False)
    seq = models.PositiveBigIntegerField(editable=False)
    created_at = models.DateTimeField(editable=False)
    # An AuditAction value. No database choices: a new action is a line in audit/actions.py,
    # never a migration (the enum refuses unknown values where events are written).
    action = models.PositiveIntegerField()
    # The actor is duck-typed (user, API key, system), stored by type and id: no FK, so
    # deleting a user can never require rewriting the log.
    actor_type = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=64, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True)
    # Counts, field names and identifiers only: never PHI (enforced by services.validate_detail).
    detail = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    objects = ScopedManager(organization="organization")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["chain_key", "seq"], name="audit_event_chain_seq"),
        ]
        indexes = [
            models.Index(fields=["organization", "created_at"]),
            models.Index(fields=["target_type", "target_id"]),
        ]
        ordering = ["-created_at", "-seq"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.seq} ({self.chain_key})"

    def get_action_display(self) -> str:
        try:
            return AuditAction(self.action).label
        except ValueError:
            return f"Action {self.action}"


class ChainHead(models.Model):
    """The last sequence number and hash of each chain; its row lock serialises appends."""

    chain_key = models.CharField(max_length=32, primary_key=True)
    seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default=ZERO_HASH)

    def __str__(self) -> str:
        return f"{self.chain_key} @ {self.seq}"

