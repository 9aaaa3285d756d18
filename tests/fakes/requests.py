"""Build the ``WebhookRequest`` a provider's call would be, for tests that call a backend directly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlencode, urlsplit

from messaging.providers import WebhookRequest


def webhook_request(
    *,
    method: str = "POST",
    url: str = "https://x/",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    form: Iterable[tuple[str, str]] | None = None,
    query: Mapping[str, str] | None = None,
    now: int | None = None,
) -> WebhookRequest:
    """A request to ``url`` (``query`` appended when the URL has none) with these raw parts.

    ``form`` pairs stand for what the body encodes (a framework's parsed view of it).
    """
    if query and not urlsplit(url).query:
        url = f"{url}?{urlencode(dict(query))}"
    pairs = tuple((str(k), str(v)) for k, v in form) if form is not None else None
    return WebhookRequest(method, url, dict(headers or {}), bytes(body), pairs, now)
