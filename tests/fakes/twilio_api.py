"""A fake of Twilio's Messages API (2010-04-01), speaking its wire format.

Point the backend at it with ``TwilioBackend(api_base_url=fake.api_base_url)``.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from email.utils import format_datetime

from tests.fakes._server import Answer, Failure, FakeProviderServer, RecordedRequest, json_answer
from tests.fakes.ids import twilio_sid

_MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages\.json$")
_MEDIA_PATH = re.compile(
    r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-fA-F]{32})/Messages/(?P<message>MM\w+)/Media/(?P<media>ME\w+)$")
_MEDIA_CONTENT_PATH = re.compile(r"^/media-content/(?P<media>ME\w+)$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_DEFAULT_ERRORS = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    503: (20503, "Service Unavailable"),
}


def twilio_error(status: int, code: int, message: str) -> Answer:
    """Twilio's legacy error envelope: code, message, more_info, status."""
    return json_answer(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


class FakeTwilio(FakeProviderServer):
    """POST /2010-04-01/Accounts/{sid}/Messages.json with Basic auth and form fields.

    - wrong credentials → 401, code 20003;
    - ``To`` not E.164 (after ``whatsapp:``) → 400, 21211 (the text echoes the number,
      as Twilio's does, so redaction gets tested);
    - ``To`` in ``opted_out`` → 400, 21610;
    - WhatsApp ``To`` in ``outside_window`` without ContentSid → 400, 63016;
    - otherwise 201 with a Message resource and a fresh ``SM…`` sid.
    """

    def __init__(
        self,
        account_sid: str = "AC0123456789abcdef0123456789abcdef",
        auth_token: str = "test-auth-token",
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.opted_out: set[str] = set()
        # Inbound MMS media by ME… sid: (bytes, content type). The media resource needs Basic
        # auth and redirects (307) to the file, which is served without auth, as Twilio's S3 is.
        self.media: dict[str, tuple[bytes, str]] = {}
        self.outside_window: set[str] = set()
        self.created_sids: list[str] = []

    def failure_answer(self, failure: Failure) -> Answer:
        """Twilio's envelope for a queued failure."""
        code, message = _DEFAULT_ERRORS.get(failure.status, (failure.status, "Error"))
        return twilio_error(failure.status, int(failure.code or code), failure.message or message)

    def handle(self, request: RecordedRequest) -> Answer:
        """Validate auth and fields like Twilio, then create the message."""
        if request.method == "GET":
            return self._media(request)
        match = _MESSAGES_PATH.match(request.path)
        if request.method != "POST" or match is None:
            return twilio_error(404, 20404, "The requested resource was not found")
        if not self._authorised(request, match.group("sid")):
            return twilio_error(401, 20003, "Authenticate")
        to = request.field("To") or ""
        number = to.removeprefix("whatsapp:")
        if not _E164.match(number):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not (request.field("From") or request.field("MessagingServiceSid")):
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not (request.field("Body") or request.field("MediaUrl") or request.field("ContentSid")):
            return twilio_error(400, 21602, "Message body is required.")
        if number in self.opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        in_window = number not in self.outside_window or request.field("ContentSid")
        if to.startswith("whatsapp:") and not in_window:
            return twilio_error(
                400,
                63016,
                "Failed to send freeform message because you are outside the allowed "
                "window. If you are using WhatsApp, please use a Message Template.",
            )
        return json_answer(201, self._message_resource(request))

    def media_url(self, media_sid: str, message_sid: str = "MM0123456789abcdef0123456789abcdef") -> str:
        """The MediaUrl{N} Twilio would put in an inbound webhook for ``media_sid``."""
        return f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"

    def _media(self, request: RecordedRequest) -> Answer:
        content_match = _MEDIA_CONTENT_PATH.match(request.path)
        if content_match and content_match.group("media") in self.media:
            content, content_type = self.media[content_match.group("media")]
            return 200, {"Content-Type": content_type}, content
        match = _MEDIA_PATH.match(request.path)
        if match is None or match.group("media") not in self.media:
            return twilio_error(404, 20404, "The requested resource was not found")
        if not self._authorised(request, match.group("sid")):
            return twilio_error(401, 20003, "Authenticate")
        # Twilio's file host is another origin: "localhost" is one for the client, so it drops
        # the Basic credentials on the redirect as it would for Twilio's real file host.
        return 307, {"Location": f"http://localhost:{self.port}/media-content/{match.group('media')}"}, b""

    def _authorised(self, request: RecordedRequest, path_sid: str) -> bool:
        header = request.headers.get("authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == self.account_sid == path_sid and password == self.auth_token

    def _message_resource(self, request: RecordedRequest) -> dict[str, object]:
        sid = twilio_sid("SM")
        with self._lock:
            self.created_sids.append(sid)
        service = request.field("MessagingServiceSid")
        now = format_datetime(datetime.now(tz=UTC))
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": request.field("Body") or "",
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": request.field("From"),
            "messaging_service_sid": service,
            "num_media": str(len((request.form or {}).get("MediaUrl", []))),
            "num_segments": "0" if service else "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            # With a Messaging Service the initial status is "accepted" (PROVIDERS.md §1.1).
            "status": "accepted" if service else "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": request.field("To"),
            "uri": f"{uri}.json",
        }
