"""What a provider is sent for a stored message: the backend's ``OutboundMessage``, built from the
row's address, body and payload (an approved template, WhatsApp reply buttons or a list), with
the references that let dispatch find an interrupted send again (docs in ``dispatch``)."""

from __future__ import annotations

from messaging.models import Message
from messaging.providers import MessageTemplate, OutboundMessage
from messaging.providers.messages import InteractiveMessage, ListRow, ListSection, ReplyButton


def idempotency_key(message: Message) -> str:
    """The same key for every attempt of one message, unique across deployments."""
    return f"carerelay-{message.organization_id}-{message.pk}-{int(message.created_at.timestamp())}"


def outbound_of(message: Message) -> OutboundMessage:
    """The message as its provider backend is asked to send it (text, template or interactive)."""
    template = None
    spec = (message.payload or {}).get("template")
    if spec:
        template = MessageTemplate(name=spec["name"], language=spec.get("language") or "en_US",
                                   parameters=list(spec.get("parameters") or []))
    return OutboundMessage(
        to=message.remote_address or "", body="" if template else (message.body or ""),
        template=template, interactive=None if template else _interactive(message),
        idempotency_key=idempotency_key(message), correlation_data=f"msg-{message.pk}",
    )


def _interactive(message: Message) -> InteractiveMessage | None:
    """``payload["interactive"]`` (reply buttons or a list) as the backend's dataclass."""
    spec = (message.payload or {}).get("interactive")
    if not spec:
        return None
    return InteractiveMessage(
        body=spec.get("body") or message.body or "",
        buttons=[ReplyButton(id=b["id"], title=b["title"]) for b in spec.get("buttons") or []],
        sections=[ListSection(title=s.get("title", ""), rows=[_row(r) for r in s.get("rows") or []])
                  for s in spec.get("sections") or []],
        list_button=spec.get("list_button", ""), header=spec.get("header", ""), footer=spec.get("footer", ""),
    )


def _row(row: dict) -> ListRow:
    return ListRow(id=row["id"], title=row["title"], description=row.get("description", ""))
