"""``WebhookRequest``: one webhook call as the provider made it, handed to a backend.

A backend first verifies the signature over the raw parts (method, the full URL the provider
signed, headers, raw body) and only then reads the body as data (``form()``, ``json()``), so
nothing unverified is ever parsed by our code. Parsing happens once, on demand, and is kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from messaging.providers._http import WebhookPayloadError

if TYPE_CHECKING:  # Django stays optional: only from_django touches a Django request.
    from django.http import HttpRequest

__all__ = ["WebhookRequest"]

# Like Django's DATA_UPLOAD_MAX_NUMBER_FIELDS: a provider's form has a few dozen fields at most,
# so a body with thousands is refused rather than parsed.
MAX_FORM_FIELDS = 1000


@dataclass(frozen=True, eq=False)
class WebhookRequest:
    """A provider's HTTP request: method, full public URL (query included), headers, raw body.

    ``headers`` may use any case: ``header(name)`` looks them up case-blind. ``form_pairs``
    may carry the pairs a framework already parsed (order and repeats kept); otherwise
    ``form()`` parses the raw body. ``now`` (Unix seconds) pins the clock of replay checks.
    """

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    body: bytes = field(default=b"", repr=False)
    form_pairs: tuple[tuple[str, str], ...] | None = field(default=None, repr=False)
    now: int | None = None
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def post(cls, url: str, *, headers: Mapping[str, str] | None = None, body: bytes = b"",
             form: Iterable[tuple[str, str]] | None = None, now: int | None = None) -> WebhookRequest:
        """A POST to ``url``; ``form`` pairs (if given) are what the body encodes."""
        pairs = tuple((str(k), str(v)) for k, v in form) if form is not None else None
        return cls("POST", url, dict(headers or {}), bytes(body), pairs, now)

    @classmethod
    def get(cls, url: str, *, headers: Mapping[str, str] | None = None,
            now: int | None = None) -> WebhookRequest:
        """A GET of ``url`` (query string included), e.g. Meta's subscription handshake."""
        return cls("GET", url, dict(headers or {}), b"", None, now)

    @classmethod
    def from_django(cls, request: HttpRequest, public_url: str) -> WebhookRequest:
        """The request a provider made, from a Django ``HttpRequest``.

        ``public_url`` is the URL the provider called (built from PUBLIC_BASE_URL: behind a TLS
        proxy the request's own URL is the internal http one); when it has no query string the
        request's is appended. The body is read raw; Django's form parser is never run.
        """
        body = bytes(request.body)  # read first: Django refuses .body after streaming POST
        query_string = request.META.get("QUERY_STRING", "")
        url = public_url
        if query_string and not urlsplit(public_url).query:
            url = f"{public_url}?{query_string}"
        return cls(request.method or "GET", url, request.headers, body, None)

    # ------------------------------------------------------------------ raw parts
    def header(self, name: str, default: str = "") -> str:
        """One header, looked up case-blind."""
        headers = self._cache.get("headers")
        if headers is None:
            headers = self._cache["headers"] = {str(k).lower(): str(v) for k, v in self.headers.items()}
        return headers.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        """The media type of the body, without parameters, lower-case."""
        return self.header("content-type").split(";", 1)[0].strip().lower()

    @property
    def is_get(self) -> bool:
        return self.method.upper() == "GET"

    def query_pairs(self) -> list[tuple[str, str]]:
        """The URL's query parameters in order, repeats kept."""
        pairs = self._cache.get("query")
        if pairs is None:
            pairs = self._cache["query"] = parse_qsl(urlsplit(self.url).query, keep_blank_values=True)
        return pairs

    def query(self, name: str, default: str = "") -> str:
        """The first value of query parameter ``name``."""
        return next((value for key, value in self.query_pairs() if key == name), default)

    # ------------------------------------------------------------------ the body as data
    def form(self) -> list[tuple[str, str]]:
        """The form-encoded body as (name, value) pairs, in order, repeated names kept.

        Raises ``WebhookPayloadError`` when the body is not UTF-8 or has more than
        ``MAX_FORM_FIELDS`` fields.
        """
        pairs = self._cache.get("form")
        if pairs is None:
            if self.form_pairs is not None:
                pairs = list(self.form_pairs)
            else:
                try:
                    decoded = self.body.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise WebhookPayloadError("form body is not UTF-8") from exc
                try:
                    pairs = parse_qsl(decoded, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
                except ValueError as exc:
                    raise WebhookPayloadError("form body has too many fields") from exc
            self._cache["form"] = pairs
        return pairs

    def form_values(self) -> dict[str, list[str]]:
        """Every value of every form field, by name, in order (a repeated field has several)."""
        values = self._cache.get("form_values")
        if values is None:
            values = {}
            for name, value in self.form():
                values.setdefault(name, []).append(value)
            self._cache["form_values"] = values
        return values

    def json(self, provider: str = "Provider") -> dict[str, Any]:
        """The body as a JSON object, or ``WebhookPayloadError`` naming ``provider``."""
        data = self._cache.get("json")
        if data is None:
            try:
                data = json.loads(self.body)
            except (ValueError, UnicodeDecodeError) as exc:
                raise WebhookPayloadError(f"{provider} webhook body is not valid JSON") from exc
            if not isinstance(data, dict):
                raise WebhookPayloadError(f"{provider} webhook body is not a JSON object")
            self._cache["json"] = data
        return data
