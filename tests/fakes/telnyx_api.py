"""A fake of Telnyx's Messaging API v2 (``POST /v2/messages``) and of its inbound MMS media.

Point the backend at it with ``TelnyxBackend(api_base_url=fake.api_base_url)``
(``…/v2``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes._server import Answer, Failure, FakeProviderServer, RecordedRequest, json_answer
from tests.fakes.ids import telnyx_id

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_MEDIA_PATH = re.compile(r"^/media/(?P<message>[\w-]+)/(?P<media>[\w-]+)$")
_DEFAULT_ERRORS = {
    429: ("10011", "Too many requests"),
    500: ("10007", "Unexpected error"),
    503: ("10007", "Unexpected error"),
}


def telnyx_error(status: int, code: str, title: str, detail: str = "") -> Answer:
    """Telnyx's error envelope: ``{"errors": [{code (a string), title, detail}]}``."""
    error: dict[str, Any] = {"code": code, "title": title}
    if detail:
        error["detail"] = detail
    return json_answer(status, {"errors": [error]})


class FakeTelnyx(FakeProviderServer):
    """POST /v2/messages with a Bearer API key and a JSON body.

    - wrong key → 401, "10009";
    - ``to`` not E.164 → 400, "40310";
    - ``to`` in ``opted_out`` → ``opted_out_status`` (409 per Telnyx's page), "40300";
    - neither ``from`` nor ``messaging_profile_id`` → 400, "40305";
    - otherwise 200 ``{"data": <message>}`` with ``to[0].status == "queued"``.

    Inbound MMS media (``media``, by id): ``media_url()`` is the signed, short-lived URL
    Telnyx puts in ``media[].url``. As there, the signature is the credential: a GET with a bad
    or expired signature → 403, and one that also carries an Authorization header → 400 (a
    presigned URL admits one auth mechanism), so the API key is never sent along.
    """

    api_prefix = "/v2"

    def __init__(self, api_key: str = "KEY_test_telnyx", **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.api_key = api_key
        self.opted_out: set[str] = set()
        self.opted_out_status = 409
        self.created_ids: list[str] = []
        self.by_idempotency_key: dict[str, dict[str, Any]] = {}
        self.media: dict[str, tuple[bytes, str]] = {}  # media id -> (bytes, content type)
        self.media_redirects: dict[str, str] = {}  # media id -> where a GET of it is redirected
        self._media_key = secrets.token_bytes(16)

    def failure_answer(self, failure: Failure) -> Answer:
        """Telnyx's envelope for a queued failure."""
        code, title = _DEFAULT_ERRORS.get(failure.status, (str(failure.status), "Error"))
        return telnyx_error(failure.status, str(failure.code or code), failure.message or title)

    def media_url(self, media_id: str, message_id: str = "1d7a1f8e-3c2b-4e90-8f6a-5b4c3d2e1f00",
                  expires_in: int = 3600) -> str:
        """The ``media[].url`` of an inbound MMS carrying ``media_id``: signed, valid ``expires_in`` s."""
        expires = str(int(time.time()) + expires_in)
        path = f"/media/{message_id}/{media_id}"
        return f"{self.base_url}{path}?Expires={expires}&Signature={self._media_signature(path, expires)}"

    def _media_signature(self, path: str, expires: str) -> str:
        return hmac.new(self._media_key, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _media(self, request: RecordedRequest) -> Answer:
        match = _MEDIA_PATH.match(request.path)
        if match is not None and match.group("media") in self.media_redirects:
            return 302, {"Location": self.media_redirects[match.group("media")]}, b""
        if match is None or match.group("media") not in self.media:
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        if "authorization" in request.headers:
            return 400, {"Content-Type": "text/plain"}, b"Only one auth mechanism allowed"
        expires = (request.query.get("Expires") or [""])[0]
        signature = (request.query.get("Signature") or [""])[0]
        valid = hmac.compare_digest(signature, self._media_signature(request.path, expires))
        if not valid or not expires.isdigit() or int(expires) < time.time():
            return 403, {"Content-Type": "text/plain"}, b"Request has expired or is not signed"
        content, content_type = self.media[match.group("media")]
        return 200, {"Content-Type": content_type}, content

    def handle(self, request: RecordedRequest) -> Answer:
        """Validate auth and fields like Telnyx, then queue the message."""
        if request.method == "GET" and request.path.startswith("/media/"):
            return self._media(request)
        if request.method != "POST" or request.path != "/v2/messages":
            return telnyx_error(404, "10005", "Resource not found")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            return telnyx_error(401, "10009", "Authentication failed", "Invalid API key.")
        body = request.json if isinstance(request.json, dict) else None
        if body is None:
            return telnyx_error(400, "10015", "Invalid request body", "Expected a JSON object.")
        to = str(body.get("to") or "")
        if not _E164.match(to):
            return telnyx_error(
                400,
                "40310",
                "Invalid 'to' address",
                "The 'to' address should be a single valid number.",
            )
        if to in self.opted_out:
            return telnyx_error(
                self.opted_out_status,
                "40300",
                "Blocked due to STOP message",
                "Messages cannot be sent to this number because the recipient replied STOP.",
            )
        if not (body.get("from") or body.get("messaging_profile_id")):
            return telnyx_error(400, "40305", "Invalid 'from' address")
        # Like Telnyx: a repeated Idempotency-Key answers the message the first request created.
        key = request.headers.get("idempotency-key", "")
        with self._lock:
            original = self.by_idempotency_key.get(key) if key else None
        if original is not None:
            return json_answer(200, {"data": original})
        message = self._message(body)
        with self._lock:
            self.created_ids.append(message["id"])
            if key:
                self.by_idempotency_key[key] = message
        return json_answer(200, {"data": message})

    def _message(self, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(tz=UTC)
        media = body.get("media_urls") or []
        return {
            "record_type": "message",
            "direction": "outbound",
            "id": telnyx_id(),
            "type": "MMS" if media else "SMS",
            "messaging_profile_id": body.get("messaging_profile_id"),
            "organization_id": "b448f9cc-a842-4784-98e9-03c1a5872950",
            "from": {"phone_number": body.get("from"), "carrier": "TELNYX LLC", "line_type": "VoIP"},
            "to": [{"phone_number": body["to"], "status": "queued", "carrier": "", "line_type": ""}],
            "cc": [],
            "text": body.get("text"),
            "media": [{"url": url, "content_type": None, "sha256": None, "size": None} for url in media],
            "webhook_url": body.get("webhook_url"),
            "webhook_failover_url": body.get("webhook_failover_url"),
            "encoding": "GSM-7",
            "parts": 1,
            "tags": [],
            "cost": None,
            "received_at": now.isoformat(),
            "sent_at": None,
            "completed_at": None,
            "valid_until": (now + timedelta(hours=4)).isoformat(),
            "errors": [],
        }
