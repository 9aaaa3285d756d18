"""The one outbound path: ``queue_messages`` stores one message or a hundred thousand.

Per chunk of recipients (``MESSAGING_QUEUE_CHUNK_SIZE``, default 1,000):

1. *Resolve and check* (no transaction, a fixed number of queries per chunk): the contacts,
   conversations and already-stored idempotency keys in one query each; per recipient the
   address, consent (opt-outs; keyword replies are exempt), WhatsApp's 24-hour window (one
   query for the chunk), the body (rendered, not empty, not too long). A refusal is a result
   with a reason code and a sentence staff can act on — never an exception for the batch.
2. *Encrypt* with the organisation's bulk ``Sealer``; the blind indexes come from its ``Indexer``.
3. *Store* in one short transaction: one multi-row ``INSERT … ON CONFLICT DO NOTHING`` on the
   unique (channel, idempotency key), the conversations' last-message time, and — last, so the
   organisation's audit-chain lock is held only for the commit — one audit event for the chunk.
   A chunk of 1,000 commits in milliseconds, so the organisation's inbound webhooks (which append
   to the same chain) never wait behind a 100,000-message campaign.
4. *Hand off* after commit: the stored ids go to dispatch (messaging.tasks.dispatch_batch
   reserves their send slots in one call). A broker outage leaves them queued; their hand-off
   lease expires and ``requeue_stalled_messages`` hands them over again.

Billing is asked between 2 and 3 (``billing.services.check_segments``, one call for the
chunk's segments: on a plan without overage the chunk's recipients are refused with billing's
numbers; sign-in codes and keyword replies are never refused) and meters inside the
transaction of 3 (``record_outbound_many``: a rolled-back chunk counts nothing).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

import audit
from accounts.actor import Actor
from accounts.blind_index import indexer_for
from accounts.crypto import sealer_for
from accounts.fields import encrypted_fields
from accounts.roles import Perm
from audit import AuditAction
from billing import QuotaExceeded
from billing.services import check_segments, record_outbound_many
from contacts.models import Contact
from messaging.models import Channel, Conversation, Message
from messaging.services.queue_checks import (
    ChunkContext,
    Refusal,
    Resolved,
    channel_refusal,
    resolve_chunk,
)
from messaging.services.queue_store import insert_rows, match_ids

logger = logging.getLogger(__name__)

__all__ = ["Content", "Outcome", "QueueResult", "Recipient", "RecipientResult", "TemplateSpec",
           "hand_off", "queue_messages"]


@dataclass(frozen=True, slots=True)
class Recipient:
    """One message to queue: to a contact (their current phone), or to a raw address."""

    contact_id: int | None
    to_phone: str = ""  # the address when there is no contact (sign-in codes, test messages)
    body: str | None = None  # already rendered for this recipient by the caller
    idempotency_key: str = ""  # unique per channel: queuing the same key again stores nothing new
    conversation_id: int | None = None


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """An approved WhatsApp template and its parameters (sendable outside the 24-hour window)."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Content:
    """What recipients without their own body are sent.

    ``body``: the shared text (for a template, its filled-in preview, which staff see in the
    thread); ``render``: a callable (contact -> text) for callers that personalise lazily;
    ``template``: the WhatsApp template the provider is asked to send instead of free text;
    ``interactive``: WhatsApp reply buttons or a list (the intake bot's choice questions), which
    backends that declare the interactive capability send with the body.
    """

    body: str | None = None
    render: Callable[[Contact], str] | None = None
    template: TemplateSpec | None = None
    interactive: dict | None = None


class Outcome(StrEnum):
    QUEUED = "queued"
    DUPLICATE = "duplicate"  # the idempotency key was stored before: message_id is that message
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class RecipientResult:
    """What became of one recipient: queued or duplicate (``message_id``), or refused (why)."""

    outcome: Outcome
    message_id: int | None = None
    reason_code: str = ""
    reason: str = ""  # a sentence staff can act on (no PHI)
    # The plan refused (billing's QuotaExceeded.as_dict(): code, message, needed, included, used,
    # remaining): not the recipient's fault, so callers may send again once the plan allows.
    quota: dict | None = None
    # A single queued message as stored, when nothing can have changed it before the caller reads
    # it (no delivery in this process): the caller need not read it back.
    message: Message | None = None


@dataclass(slots=True)
class QueueResult:
    """One result per recipient, in the order given."""

    results: list[RecipientResult] = field(default_factory=list)

    def _count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome is outcome)

    @property
    def queued(self) -> int:
        return self._count(Outcome.QUEUED)

    @property
    def duplicates(self) -> int:
        return self._count(Outcome.DUPLICATE)

    @property
    def refused(self) -> int:
        return self._count(Outcome.REFUSED)

    def refusals(self) -> dict[str, int]:
        """How many recipients were refused, by reason code."""
        counts: dict[str, int] = {}
        for r in self.results:
            if r.outcome is Outcome.REFUSED:
                counts[r.reason_code] = counts.get(r.reason_code, 0) + 1
        return counts


def queue_messages(*, actor: Actor, channel: Channel, recipients: Sequence[Recipient], origin: str,
                   content: Content | None = None, chunk_size: int | None = None,
                   conversations: Sequence[Conversation] = (),
                   contacts: Sequence[Contact] = ()) -> QueueResult:
    """Check, encrypt, store and hand to dispatch one message per recipient (module docstring).

    Needs ``Perm.MESSAGES_SEND`` in the channel's organisation (system actors have it); a wrong
    role or organisation raises PermissionDenied before anything is read. Everything a
    recipient can be refused for is a result, never an exception. ``conversations`` and
    ``contacts``: rows the caller has just read (a reply's conversation and its patient), checked
    from memory instead of read again.
    """
    actor.require(Perm.MESSAGES_SEND, channel)
    if origin not in Message.Origin.values or origin == Message.Origin.PATIENT:
        raise ValueError("origin must be an outbound Message.Origin")
    content = content or Content()
    result = QueueResult()
    refusal = channel_refusal(channel)
    if refusal is not None:
        result.results = [refusal.result() for _ in recipients]
        return result
    size = max(1, chunk_size or settings.MESSAGING_QUEUE_CHUNK_SIZE)
    ctx = ChunkContext(channel=channel, origin=origin, content=content,
                       indexer=indexer_for(channel.organization_id),
                       known_conversations={c.pk: c for c in conversations},
                       known_contacts=_known_contacts(conversations, contacts))
    sealer = sealer_for(channel.organization_id)
    for start in range(0, len(recipients), size):
        chunk = recipients[start:start + size]
        resolved = resolve_chunk(ctx, chunk)
        result.results += _store_chunk(actor, ctx, resolved, sealer)
    return result


def _known_contacts(conversations: Sequence[Conversation], contacts: Sequence[Contact]) -> dict[int, Contact]:
    known = {c.pk: c for c in contacts}
    for conversation in conversations:  # a contact read with its conversation (select_related)
        if Conversation.contact.is_cached(conversation) and conversation.contact is not None:
            known.setdefault(conversation.contact_id, conversation.contact)
    return known


# --- storing ---------------------------------------------------------------------------------
_CONTEXT = {f.attname: f.crypto_context for f in encrypted_fields(Message)}
_PAYLOAD = Message._meta.get_field("payload")


def _constants(ctx: ChunkContext, actor: Actor, now: datetime.datetime) -> dict:
    """The columns every message of the chunk shares."""
    return {
        "organization_id": ctx.channel.organization_id, "channel_id": ctx.channel.pk,
        "direction": Message.Direction.OUTBOUND.value, "origin": str(ctx.origin),
        "template_name": ctx.content.template.name if ctx.content.template else "",
        "status": Message.Status.QUEUED.value, "provider_message_id": "", "error_code": "",
        "error_message": None, "sent_by_id": actor.user_id if actor.is_member else None, "attempts": 0,
        "dispatch_slot_at": None, "created_at": now, "sent_at": None, "delivered_at": None, "read_at": None,
        "failed_at": None,
        # Dispatch must take them within this; otherwise requeue_stalled_messages hands them over again.
        "lease_expires_at": now + datetime.timedelta(seconds=settings.MESSAGING_HANDOFF_LEASE_SECONDS),
    }


def _payload(ctx: ChunkContext) -> dict:
    template = ctx.content.template
    payload = ({"template": {"name": template.name, "language": template.language,
                             "parameters": list(template.parameters)}} if template else {})
    if ctx.content.interactive:
        payload["interactive"] = ctx.content.interactive
    return payload


def _sealed_rows(ctx: ChunkContext, resolved: list[Resolved], sealer) -> list[tuple]:
    """Per message the varying columns (queue_store.ROW_FIELDS), PHI sealed under the org's key."""
    payload = _payload(ctx)
    payload_text, payload_context = _PAYLOAD.to_text(payload), _CONTEXT["payload"]
    # An empty payload hides nothing: one ciphertext of "{}" serves the chunk. A template's
    # parameters are sealed per row (one ciphertext per value, as a single save would).
    shared_payload = None if payload else sealer.seal(payload_text, payload_context)
    body_context, address_context = _CONTEXT["body"], _CONTEXT["remote_address"]
    seal = sealer.seal
    return [(item.conversation_id, item.contact_id, seal(item.address, address_context), item.address_index,
             seal(item.body, body_context), shared_payload or seal(payload_text, payload_context),
             item.segments, item.encoding, item.idempotency_key) for item in resolved]


def _store_chunk(actor: Actor, ctx: ChunkContext, resolved: list[Resolved | Refusal | RecipientResult],
                 sealer) -> list[RecipientResult]:
    """Store a chunk's accepted recipients in one short transaction; results in recipient order."""
    results: list[RecipientResult | None] = [r.result() if isinstance(r, Refusal) else
                                             r if isinstance(r, RecipientResult) else None for r in resolved]
    accepted = [(n, r) for n, r in enumerate(resolved) if isinstance(r, Resolved)]
    if not accepted:
        return results  # type: ignore[return-value]
    items = [r for _, r in accepted]
    refused = _over_quota(ctx, items)
    if refused is not None:  # the plan allows none of this chunk: every recipient told why
        answer = refused.result()  # one frozen result (and one dict of numbers) for the chunk
        for position, _item in accepted:
            results[position] = answer
        return results  # type: ignore[return-value]
    connection = connections[router.db_for_write(Message)]
    now = timezone.now()
    rows = _sealed_rows(ctx, items, sealer)
    constants = _constants(ctx, actor, now)
    # Inside a caller's transaction (the intake bot answering) no savepoint: conflicts are
    # answered by the insert itself, and any other error is the caller's transaction's to undo.
    with transaction.atomic(using=connection.alias, savepoint=False):
        stored = insert_rows(connection, constants, rows)
        new_ids = match_ids([i.idempotency_key for i in items], stored)
        lost = [items[n].idempotency_key for n in range(len(items)) if n not in new_ids]
        existing = dict(Message.objects.filter(channel=ctx.channel, idempotency_key__in=lost)
                        .exclude(idempotency_key="")  # the unique partial index's predicate: it is used
                        .values_list("idempotency_key", "pk")) if lost else {}
        if new_ids:  # metered in the messages' own transaction: a rolled-back chunk counts nothing
            record_outbound_many(organization_id=ctx.channel.organization_id, rows=[
                {"channel_kind": ctx.channel.kind, "origin": str(ctx.origin),
                 "segments": items[n].segments} for n in new_ids])
        ids = sorted(new_ids.values())
        if ids:
            _audit_chunk(actor, ctx, items, new_ids)
            transaction.on_commit(partial(hand_off, ctx.channel.organization_id, ctx.channel.pk, ids),
                                  using=connection.alias)
    as_stored = len(items) == 1 and not _delivers_here()
    for n, (position, item) in enumerate(accepted):
        if n in new_ids:
            message = (_stored_message(ctx, constants, item, new_ids[n], connection.alias)
                       if as_stored else None)
            results[position] = RecipientResult(Outcome.QUEUED, new_ids[n], message=message)
        else:  # another caller stored this key between our check and our insert
            results[position] = RecipientResult(Outcome.DUPLICATE, existing.get(item.idempotency_key))
    return results  # type: ignore[return-value]


def _stored_message(ctx: ChunkContext, constants: dict, item: Resolved, pk: int, alias: str) -> Message:
    """The row just inserted, as a loaded instance (plaintext fields, as they decrypt on load)."""
    message = Message(id=pk, **constants, conversation_id=item.conversation_id, contact_id=item.contact_id,
                      remote_address=item.address, remote_address_index=item.address_index, body=item.body,
                      payload=_payload(ctx), segments=item.segments, encoding=item.encoding,
                      idempotency_key=item.idempotency_key)
    message._state.adding, message._state.db = False, alias
    return message


# Sent whatever the plan says (still metered): nobody is locked out of signing in, and a STOP,
# START or HELP is always answered.
_NEVER_REFUSED_BY_QUOTA = frozenset({Message.Origin.ONE_TIME_CODE, Message.Origin.AUTO_REPLY})


def _over_quota(ctx: ChunkContext, items: list[Resolved]) -> Refusal | None:
    """Billing's answer for the chunk's segments: None when they may go (overage included)."""
    if ctx.origin in _NEVER_REFUSED_BY_QUOTA:
        return None
    try:
        check_segments(organization_id=ctx.channel.organization_id, segments=sum(i.segments for i in items))
    except QuotaExceeded as refusal:
        return Refusal(refusal.code, refusal.message, quota=refusal.as_dict())
    return None


def _audit_chunk(actor: Actor, ctx: ChunkContext, items: list[Resolved], new_ids: dict[int, int]) -> None:
    """One event for the chunk (the last statement before commit: the chain lock is held briefly).

    A chunk of one is the single-message send (a reply, a code): MESSAGE_SENT naming the message,
    as ever. A larger chunk is one MESSAGES_QUEUED event: counts and the id range, never PHI.
    """
    ids = sorted(new_ids.values())
    if len(ids) == 1:
        message = Message(pk=ids[0], organization_id=ctx.channel.organization_id)
        (only,) = new_ids
        entry = audit.AuditEntry(AuditAction.MESSAGE_SENT, target=message, detail={
            "message_id": ids[0], "segments": items[only].segments, "origin": str(ctx.origin),
            "channel_id": ctx.channel.pk})
    else:
        entry = audit.AuditEntry(AuditAction.MESSAGES_QUEUED, detail={
            "count": len(ids), "channel_id": ctx.channel.pk, "origin": str(ctx.origin),
            "first_message_id": ids[0], "last_message_id": ids[-1],
            "segments": sum(items[n].segments for n in new_ids), "template": bool(ctx.content.template)})
    audit.record_many([entry], organization=ctx.channel.organization_id, actor=actor)


# --- hand-off --------------------------------------------------------------------------------
# Set by ``sending_here()``: a single message is delivered in this process after commit.
_send_here: ContextVar[bool] = ContextVar("messaging_send_here", default=False)


@contextmanager
def sending_here() -> Iterator[None]:
    """Within the block, a single queued message is delivered by this worker right after its
    transaction commits, instead of by a ``dispatch_message`` task: for a worker answering a
    patient who waits for the reply (the intake bot's next question), one queue hop and one task
    less. The same delivery protocol runs (``deliver_message``: lock, reconcile, slot, claim);
    a send that must wait (the channel's rate, a busy provider) goes to a task as usual."""
    token = _send_here.set(True)
    try:
        yield
    finally:
        _send_here.reset(token)


def _eager() -> bool:
    from messaging.tasks import dispatch_message

    return dispatch_message.app.conf.task_always_eager


def _delivers_here() -> bool:
    """Whether a single message is delivered in this process right after commit (eager tasks, or
    ``sending_here``): then its status may change before the caller reads it."""
    return _send_here.get() or _eager()


def hand_off(organization_id: int, channel_id: int, message_ids: list[int]) -> None:
    """Give stored messages to dispatch (after commit). One message goes straight to
    ``dispatch_message``; more go as one ``dispatch_batch`` task, which reserves their send slots in
    one call. Broker down: they stay queued, and the sweep takes them once their lease expires."""
    from kombu.exceptions import OperationalError

    from messaging.tasks import dispatch_batch, dispatch_message

    # (Eager mode, the embedded default and the tests, already delivers in this process.)
    if len(message_ids) == 1 and _send_here.get() and not _eager():
        _deliver_here(organization_id, message_ids[0])
        return
    try:
        if len(message_ids) == 1:
            # The log's copy of the arguments given, not built by Celery's saferepr (an eighth of
            # a publish): two ids.
            kwargs = {"org_id": organization_id, "message_id": message_ids[0]}
            dispatch_message.apply_async(kwargs=kwargs, argsrepr="()", kwargsrepr=repr(kwargs))
        else:
            dispatch_batch.delay(org_id=organization_id, channel_id=channel_id, message_ids=list(message_ids))
    except OperationalError:
        logger.warning("broker unavailable: %s message(s) of channel %s stay queued for "
                       "requeue_stalled_messages", len(message_ids), channel_id)


def _deliver_here(organization_id: int, message_id: int) -> None:
    from messaging.services.dispatch import deliver_message
    from messaging.tasks import dispatch_message

    try:
        result = deliver_message(message_id)
    except Exception:  # e.g. a lost database connection: the task path retries it
        logger.exception("message %s: delivery in this worker failed, handing it to a task", message_id)
        result = None
    if result is None or result.comes_back:  # "busy": its holder sends it
        wait = result.retry_in if result is not None else None
        dispatch_message.apply_async(kwargs={"org_id": organization_id, "message_id": message_id},
                                     countdown=wait or None)
