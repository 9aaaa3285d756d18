"""A fake of Meta's WhatsApp Cloud API send endpoint (``POST /{version}/{id}/messages``).

Point the backend at it with ``WhatsAppCloudBackend(api_base_url=fake.api_base_url)``
(``…/v21.0``).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from tests.fakes._server import Answer, Failure, FakeProviderServer, RecordedRequest, json_answer
from tests.fakes.ids import wamid

_MESSAGES_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<phone_number_id>[^/]+)/messages$")
_MEDIA_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<media_id>\d+)$")
_MEDIA_DOWNLOAD_PATH = re.compile(r"^/whatsapp_business/attachments/(?P<media_id>\d+)$")
_WA_NUMBER = re.compile(r"^\+?[1-9]\d{6,14}$")
_DEFAULT_ERRORS = {
    429: (130429, "(#130429) Rate limit hit"),
    500: (131000, "(#131000) Something went wrong"),
    503: (131000, "(#131000) Something went wrong"),
}


def graph_error(
    status: int, code: int, message: str, details: str = "", error_type: str = "OAuthException"
) -> Answer:
    """Graph's error envelope: ``{"error": {message, type, code, error_data, fbtrace_id}}``."""
    error: dict[str, Any] = {
        "message": message,
        "type": error_type,
        "code": code,
        "fbtrace_id": "AbCdEfGhIjKlMnOpQrStUvW",
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return json_answer(status, {"error": error})


class FakeGraph(FakeProviderServer):
    """POST /{version}/{phone_number_id}/messages with a Bearer token and a JSON body.

    - wrong token → 401, code 190;
    - unknown phone-number id → 400, code 100;
    - missing messaging_product/type or more than 3 buttons → 400, code 100 / 131009;
    - ``to`` not a number → 400, 131026 (the fake's choice for "invalid recipient");
    - ``to`` in ``outside_window`` and not a template → 400, 131047;
    - otherwise 200 with ``messages[0].id`` a fresh wamid.
    WhatsApp has no opt-out error: opt-outs are CareRelay's own business.
    """

    api_prefix = "/v21.0"

    def __init__(
        self,
        access_token: str = "EAAG-test-token",
        phone_number_id: str = "106540352242922",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.outside_window: set[str] = set()
        self.created_ids: list[str] = []
        # Inbound media the fake serves, by media id: (bytes, mime type). As on Meta, GET
        # /{media-id} answers a JSON with a short-lived download URL, and that URL needs the
        # same Bearer token.
        self.media: dict[str, tuple[bytes, str]] = {}

    def failure_answer(self, failure: Failure) -> Answer:
        """Graph's envelope for a queued failure."""
        code, message = _DEFAULT_ERRORS.get(failure.status, (failure.status, "Error"))
        return graph_error(failure.status, int(failure.code or code), failure.message or message)

    def handle(self, request: RecordedRequest) -> Answer:
        """Validate auth and body like the Cloud API, then accept the message."""
        if request.method == "GET":
            return self._media(request)
        match = _MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return graph_error(400, 100, "Unknown path components", error_type="OAuthException")
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if match.group("phone_number_id") != self.phone_number_id:
            return graph_error(
                400,
                100,
                "Unsupported post request. Object does not exist.",
                "",
                "GraphMethodException",
            )
        body = request.json if isinstance(request.json, dict) else {}
        problem = _shape_problem(body)
        if problem is not None:
            return problem
        to = str(body.get("to") or "")
        if not _WA_NUMBER.match(to):
            return graph_error(400, 131026, "(#131026) Message Undeliverable")
        if "+" + to.lstrip("+") in self.outside_window and body["type"] != "template":
            return graph_error(
                400,
                131047,
                "(#131047) Re-engagement message",
                "Message failed to send because more than 24 hours have passed since the "
                "customer last replied to this number.",
            )
        message: dict[str, Any] = {"id": wamid()}
        with self._lock:
            self.created_ids.append(message["id"])
        if body["type"] == "template":
            message["message_status"] = "accepted"
        return json_answer(
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [message],
            },
        )


    def _media(self, request: RecordedRequest) -> Answer:
        if request.headers.get("authorization") != f"Bearer {self.access_token}":
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        lookup = _MEDIA_PATH.match(request.path)
        download = _MEDIA_DOWNLOAD_PATH.match(request.path)
        media_id = (lookup or download).group("media_id") if (lookup or download) else ""
        if media_id not in self.media:
            return graph_error(400, 100, "Unsupported get request. Object does not exist.",
                               error_type="GraphMethodException")
        content, mime_type = self.media[media_id]
        if download:
            return 200, {"Content-Type": mime_type}, content
        return json_answer(200, {
            "messaging_product": "whatsapp",
            "url": f"{self.base_url}/whatsapp_business/attachments/{media_id}",
            "mime_type": mime_type, "sha256": hashlib.sha256(content).hexdigest(), "file_size": len(content),
            "id": media_id,
        })


def _shape_problem(body: dict[str, Any]) -> Answer | None:
    """The error Meta would give a malformed body, or None."""
    message_type = body.get("type")
    if body.get("messaging_product") != "whatsapp" or not message_type:
        return graph_error(400, 100, "(#100) Invalid parameter")
    if not isinstance(body.get(message_type), dict):
        return graph_error(400, 100, f"(#100) Param {message_type} is required")
    if message_type == "interactive":
        buttons = body["interactive"].get("action", {}).get("buttons", [])
        too_long = any(len(b.get("reply", {}).get("title", "")) > 20 for b in buttons)
        if len(buttons) > 3 or too_long:
            return graph_error(400, 131009, "(#131009) Parameter value is not valid")
    return None
