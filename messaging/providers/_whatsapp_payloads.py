"""Request bodies for the WhatsApp Cloud API ``/{phone_number_id}/messages`` endpoint.

The shapes follow ``samples/whatsapp_send_*_request.json`` (PROVIDERS.md §3.1, §3.7):
lower-case template component types, reply buttons, list sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from messaging.providers.messages import InteractiveMessage, MessageTemplate, OutboundMessage

MAX_REPLY_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_LIST_ROWS = 10

# Meta decides the media type from the message "type", so guess it from the file name;
# anything unrecognised goes as a document, which WhatsApp shows as a download.
_MEDIA_TYPE_BY_SUFFIX = {
    ".jpg": "image",
    ".jpeg": "image",
    ".png": "image",
    ".mp4": "video",
    ".3gp": "video",
    ".mp3": "audio",
    ".ogg": "audio",
    ".amr": "audio",
    ".aac": "audio",
    ".m4a": "audio",
    ".webp": "sticker",
}
_CAPTIONED_MEDIA = frozenset({"image", "video", "document"})
_BUTTON_PARAMETER = {"quick_reply": "payload", "url": "text", "copy_code": "coupon_code"}


class InvalidContent(ValueError):
    """The message cannot be expressed as a WhatsApp request; the text tells staff why."""


def recipient(to: str) -> str:
    """WhatsApp wants the number without ``+`` (``16505551234``); other ids pass through."""
    return to[1:] if to.startswith("+") else to


def request_body(message: OutboundMessage) -> dict[str, Any]:
    """The full JSON body for one outbound message, or raise InvalidContent."""
    body: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient(message.to),
    }
    if message.template is not None:
        body["type"] = "template"
        body["template"] = template_object(message.template)
    elif message.interactive is not None:
        body["type"] = "interactive"
        body["interactive"] = interactive_object(message.interactive)
    elif message.media_urls:
        media_type, media = media_object(message)
        body["type"] = media_type
        body[media_type] = media
    elif message.body:
        body["type"] = "text"
        body["text"] = {"body": message.body}
    else:
        raise InvalidContent("The message is empty: add text, an attachment or a template.")
    if message.correlation_data:
        body["biz_opaque_callback_data"] = message.correlation_data
    return body


def template_object(template: MessageTemplate) -> dict[str, Any]:
    """``template`` member: name, language and only the components that have values."""
    components: list[dict[str, Any]] = []
    if template.header_parameters:
        header = [dict(parameter) for parameter in template.header_parameters]
        components.append({"type": "header", "parameters": header})
    body_parameters = _body_parameters(template.parameters)
    if body_parameters:
        components.append({"type": "body", "parameters": body_parameters})
    for button in template.buttons:
        kind = _BUTTON_PARAMETER.get(button.sub_type)
        if kind is None:
            raise InvalidContent(f"Unknown template button type {button.sub_type!r}.")
        components.append(
            {
                "type": "button",
                "sub_type": button.sub_type,
                "index": str(button.index),
                "parameters": [{"type": kind, kind: button.value}],
            }
        )
    result: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        result["components"] = components
    return result


def _body_parameters(parameters: Any) -> list[dict[str, Any]]:
    if isinstance(parameters, Mapping):  # named parameters ({{first_name}})
        return [
            {"type": "text", "parameter_name": str(name), "text": str(value)}
            for name, value in parameters.items()
        ]
    return [
        dict(value) if isinstance(value, Mapping) else {"type": "text", "text": str(value)}
        for value in parameters
    ]


def interactive_object(interactive: InteractiveMessage) -> dict[str, Any]:
    """``interactive`` member for reply buttons or a list (only inside the 24 h window)."""
    if not interactive.body:
        raise InvalidContent("An interactive message needs body text.")
    if bool(interactive.buttons) == bool(interactive.sections):
        raise InvalidContent("An interactive message has either reply buttons or a list.")
    result: dict[str, Any] = {}
    if interactive.buttons:
        result["type"] = "button"
        action: dict[str, Any] = {"buttons": _reply_buttons(interactive)}
    else:
        result["type"] = "list"
        action = {"button": interactive.list_button, "sections": _sections(interactive)}
    if interactive.header:
        result["header"] = {"type": "text", "text": interactive.header}
    result["body"] = {"text": interactive.body}
    if interactive.footer:
        result["footer"] = {"text": interactive.footer}
    result["action"] = action
    return result


def _reply_buttons(interactive: InteractiveMessage) -> list[dict[str, Any]]:
    buttons = list(interactive.buttons)
    if len(buttons) > MAX_REPLY_BUTTONS:
        raise InvalidContent(f"WhatsApp allows at most {MAX_REPLY_BUTTONS} reply buttons.")
    if len({button.id for button in buttons}) != len(buttons):
        raise InvalidContent("Reply button ids must be different from each other.")
    for button in buttons:
        _check_choice(button.id, button.title)
    return [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in buttons]


def _sections(interactive: InteractiveMessage) -> list[dict[str, Any]]:
    if not interactive.list_button or len(interactive.list_button) > MAX_BUTTON_TITLE:
        raise InvalidContent(f"A list needs a button label of 1-{MAX_BUTTON_TITLE} characters.")
    rows = [row for section in interactive.sections for row in section.rows]
    if not rows or len(rows) > MAX_LIST_ROWS:
        raise InvalidContent(f"A list has between 1 and {MAX_LIST_ROWS} options.")
    sections = []
    for section in interactive.sections:
        section_rows = []
        for row in section.rows:
            if not row.id or len(row.id) > MAX_BUTTON_ID:
                raise InvalidContent(f"List option ids are 1-{MAX_BUTTON_ID} characters.")
            item = {"id": row.id, "title": row.title}
            if row.description:
                item["description"] = row.description
            section_rows.append(item)
        sections.append({"title": section.title, "rows": section_rows})
    return sections


def _check_choice(choice_id: str, title: str) -> None:
    if not choice_id or len(choice_id) > MAX_BUTTON_ID:
        raise InvalidContent(f"Button ids are 1-{MAX_BUTTON_ID} characters.")
    if not title or len(title) > MAX_BUTTON_TITLE:
        raise InvalidContent(f"Button titles are 1-{MAX_BUTTON_TITLE} characters.")


def media_object(message: OutboundMessage) -> tuple[str, dict[str, Any]]:
    """(type, object) for a single attachment sent by link, with the body as caption."""
    if len(message.media_urls) > 1:
        raise InvalidContent("WhatsApp sends one attachment per message.")
    link = message.media_urls[0]
    path = urlsplit(link).path.lower()
    suffix = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
    media_type = _MEDIA_TYPE_BY_SUFFIX.get(suffix, "document")
    media: dict[str, Any] = {"link": link}
    if message.body:
        if media_type not in _CAPTIONED_MEDIA:
            raise InvalidContent(f"WhatsApp {media_type} attachments cannot carry text.")
        media["caption"] = message.body
    return media_type, media
