"""Writing audit events: the only write path for AuditEvent."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connections, router, transaction
from django.utils import timezone

from audit import context
from audit.actions import AuditAction
from audit.models import ZERO_HASH, AuditEvent, ChainHead, chain_key_for

# Detail values must be identifiers, counts or flags. Free text could carry PHI
# (a name, a phone number, an e-mail), so it is refused at the door.
_SAFE_TEXT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:\-/]{0,63}$")
_MAX_DETAIL_ITEMS = 50


class UnsafeAuditDetail(ValueError):
    """Raised when an audit detail value could carry PHI."""


def _check_value(key: str, value: Any) -> None:
    if value is None or isinstance(value, bool | int | float):
        return
    if isinstance(value, str):
        if not _SAFE_TEXT.match(value):
            raise UnsafeAuditDetail(
                f"Audit detail '{key}' must be an identifier, count or flag, not free text."
            )
        return
    if isinstance(value, list | tuple):
        if len(value) > _MAX_DETAIL_ITEMS:
            raise UnsafeAuditDetail(f"Audit detail '{key}' has too many items.")
        for item in value:
            _check_value(key, item)
        return
    if isinstance(value, dict):
        validate_detail(value)
        return
    raise UnsafeAuditDetail(f"Audit detail '{key}' has an unsupported type.")


def validate_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """Refuse detail that could hold PHI: keys are identifiers, values counts/flags/ids."""
    for key, value in detail.items():
        if not isinstance(key, str) or not _SAFE_TEXT.match(key):
            raise UnsafeAuditDetail("Audit detail keys must be identifiers.")
        _check_value(key, value)
    return detail


def _describe_actor(actor: Any) -> tuple[str, str, str]:
    if actor is None:
        return "system", "", ""
    if getattr(actor, "is_authenticated", True) is False:
        return "anonymous", "", ""
    actor_type = getattr(actor, "audit_actor_type", "user")
    return actor_type, str(actor.pk), str(getattr(actor, "audit_label", ""))[:64]


def _describe_target(target: Any) -> tuple[str, str]:
    if target is None:
        return "", ""
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk)


def event_hash(fields: dict[str, Any]) -> str:
    """SHA-256 over the canonical JSON of an event's content and the previous hash."""
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def hashed_fields(event: AuditEvent) -> dict[str, Any]:
    """The content an event's hash covers (shared with verification)."""
    return {
        "chain_key": event.chain_key,
        "seq": event.seq,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "organization_id": event.organization_id,
        "action": int(event.action),
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": event.request_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "detail": event.detail,
        "prev_hash": event.prev_hash,
    }


# The statements below are built once from model metadata (table and column names, never input);
# every value is a bound parameter.
_EVENT_FIELDS = [f for f in AuditEvent._meta.concrete_fields if not f.primary_key]
_HEAD = ChainHead._meta.db_table
# Creates the chain's head on first use and row-locks it in one statement: the no-op update
# takes the same lock SELECT ... FOR UPDATE would, and RETURNING hands back the latest head.
_LOCK_HEAD = (f"INSERT INTO {_HEAD} (chain_key, seq, last_hash) VALUES (%s, 0, %s) "  # noqa: S608
              f"ON CONFLICT (chain_key) DO UPDATE SET seq = {_HEAD}.seq RETURNING seq, last_hash")
_INSERT_EVENT = (f"INSERT INTO {AuditEvent._meta.db_table} ({', '.join(f.column for f in _EVENT_FIELDS)}) "  # noqa: S608
                 f"VALUES ({', '.join(['%s'] * len(_EVENT_FIELDS))}) RETURNING id")
_INSERT_EVENTS = (f"INSERT INTO {AuditEvent._meta.db_table} "
                  f"({', '.join(f.column for f in _EVENT_FIELDS)}) VALUES")
_MOVE_HEAD = f"UPDATE {_HEAD} SET seq = %s, last_hash = %s WHERE chain_key = %s"  # noqa: S608
# PostgreSQL: insert and move the head in one round trip (data-modifying CTEs).
_INSERT_AND_MOVE = f"WITH e AS ({_INSERT_EVENT}), h AS ({_MOVE_HEAD}) SELECT id FROM e"  # noqa: S608


def _append(event: AuditEvent) -> None:
    """Link ``event`` to its chain and store it: two statements, no ORM compilation.

    Every PHI write appends an event (an inbound webhook does), so this is a hot path; the
    chain head's row lock is held from the first statement until the caller's commit.
    """
    connection = connections[router.db_for_write(AuditEvent)]
    if not fast_append(connection):
        _append_with_orm(event)
        return
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_HEAD, [event.chain_key, ZERO_HASH])
        seq, last_hash = cursor.fetchone()
        event.seq, event.prev_hash = seq + 1, last_hash
        event.hash = event_hash(hashed_fields(event))
        values = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _EVENT_FIELDS]
        cursor.execute(_INSERT_AND_MOVE, [*values, event.seq, event.hash, event.chain_key])
        event.pk = cursor.fetchone()[0]
    event._state.adding, event._state.db = False, connection.alias


def fast_append(connection) -> bool:
    """Whether the two-statement append is used: PostgreSQL (data-modifying CTEs). SQLite, the
    embedded single-clinic database, lacks them (and RETURNING before 3.35): the ORM path."""
    return connection.vendor == "postgresql"


def _append_with_orm(event: AuditEvent) -> None:
    ChainHead.objects.bulk_create([ChainHead(chain_key=event.chain_key)], ignore_conflicts=True)
    head = ChainHead.objects.select_for_update().get(chain_key=event.chain_key)
    event.seq, event.prev_hash = head.seq + 1, head.last_hash
    event.hash = event_hash(hashed_fields(event))
    event.save(force_insert=True)
    ChainHead.objects.filter(pk=head.pk).update(seq=event.seq, last_hash=event.hash)


def _new_event(action: AuditAction, *, organization: Any, target: Any, actor: Any,
               detail: dict[str, Any] | None) -> AuditEvent:
    """An unlinked event: organisation, actor and request context resolved, detail checked."""
    if not isinstance(action, AuditAction):
        raise TypeError("audit actions are AuditAction members, never free strings")
    ctx = context.current()
    if organization is None and target is not None:
        organization_id = getattr(target, "organization_id", None)
    else:
        organization_id = getattr(organization, "pk", organization)
    if organization_id is None and ctx.organization is not None:
        organization_id = ctx.organization.pk
    actor_type, actor_id, actor_label = _describe_actor(actor if actor is not None else ctx.actor)
    target_type, target_id = _describe_target(target)
    return AuditEvent(
        organization_id=organization_id,
        chain_key=chain_key_for(organization_id),
        created_at=timezone.now(),
        action=int(action),
        actor_type=actor_type,
        actor_id=actor_id,
        actor_label=actor_label,
        target_type=target_type,
        target_id=target_id,
        request_id=ctx.request_id,
        ip=ctx.ip,
        user_agent=ctx.user_agent,
        detail=validate_detail(dict(detail or {})),
    )


def record_event(
    action: AuditAction,
    *,
    organization: Any = None,
    target: Any = None,
    actor: Any = None,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to its organisation's chain, inside the caller's transaction.

    The organisation defaults to the target's, then to the current request's; the actor
    defaults to the current request's user. Appends to one chain are serialised by a row
    lock on its head, so concurrent writers never fork the chain.
    """
    event = _new_event(action, organization=organization, target=target, actor=actor, detail=detail)
    pending = _deferred.get()
    if pending is not None:
        pending.append(event)
        return event
    # No savepoint inside the caller's transaction: a failed append must fail the caller's
    # write anyway (a PHI write without its audit event must not commit).
    with transaction.atomic(savepoint=False):
        _append(event)
    return event


# Events of an open ``deferred()`` block, appended when it ends.
_deferred: ContextVar[list[AuditEvent] | None] = ContextVar("audit_deferred", default=None)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold the block's appends and make them when it ends, under one head lock per chain.

    The chain head is the hottest row an organisation has; every writer takes the same lock
    order — its own rows (conversation, usage counters) first, the chain last — or two
    writers deadlock (an inbound webhook that creates a contact appended CONTACT_CREATED
    before metering, while another webhook metered and then waited for the chain). A writer
    whose services audit along the way wraps its transaction's work in this block, so the
    chain is locked last, once. Use it inside the caller's ``transaction.atomic()``: the
    events are written before that commits, and an exception in the block discards them
    with the transaction. Nested blocks append with the outermost.
    """
    if _deferred.get() is not None:
        yield
        return
    pending: list[AuditEvent] = []
    token = _deferred.set(pending)
    try:
        yield
    finally:
        _deferred.reset(token)
    by_chain: dict[str, list[AuditEvent]] = {}
    for event in pending:
        by_chain.setdefault(event.chain_key, []).append(event)
    with transaction.atomic(savepoint=False):
        for chain_key in sorted(by_chain):  # one order for every writer
            chain = by_chain[chain_key]
            if len(chain) == 1:
                _append(chain[0])  # one statement fewer than a batch of one
            else:
                _append_many(chain)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One event of a ``record_many`` call (its organisation and actor are the call's)."""

    action: AuditAction
    target: Any = None
    detail: dict[str, Any] | None = None


def record_many(entries: Iterable[AuditEntry], *, organization: Any, actor: Any = None) -> list[AuditEvent]:
    """Append several events to one organisation's chain under ONE chain-head lock.

    For batch writers (queuing thousands of messages): the head is locked, the events are
    linked in order and inserted by one multi-row statement, and the head moves once. Call it
    last in the writer's transaction — the head's lock is held until that transaction commits,
    and every other writer of the organisation's chain (its inbound webhooks) waits for it.
    """
    events = [_new_event(e.action, organization=organization, target=e.target, actor=actor, detail=e.detail)
              for e in entries]
    if not events:
        return []
    if len({e.chain_key for e in events}) != 1:
        raise ValueError("record_many appends to one organisation's chain; targets of another were given")
    pending = _deferred.get()
    if pending is not None:
        pending.extend(events)
        return events
    with transaction.atomic(savepoint=False):
        _append_many(events)
    return events


def _append_many(events: list[AuditEvent]) -> None:
    connection = connections[router.db_for_write(AuditEvent)]
    if not fast_append(connection):
        for event in events:
            _append_with_orm(event)
        return
    chain_key = events[0].chain_key
    with connection.cursor() as cursor:
        cursor.execute(_LOCK_HEAD, [chain_key, ZERO_HASH])
        seq, last_hash = cursor.fetchone()
        values: list[Any] = []
        for event in events:
            seq += 1
            event.seq, event.prev_hash = seq, last_hash
            event.hash = last_hash = event_hash(hashed_fields(event))
            values += [f.get_db_prep_save(getattr(event, f.attname), connection) for f in _EVENT_FIELDS]
        row = f"({', '.join(['%s'] * len(_EVENT_FIELDS))})"
        # One round trip: the events and the head's move (ids come from the sequence in VALUES
        # order, so ORDER BY id pairs them with the events).
        statement = (f"WITH e AS ({_INSERT_EVENTS} {', '.join([row] * len(events))} RETURNING id), "  # noqa: S608
                     f"h AS ({_MOVE_HEAD}) SELECT id FROM e ORDER BY id")
        cursor.execute(statement, [*values, seq, last_hash, chain_key])
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk
            event._state.adding, event._state.db = False, connection.alias
