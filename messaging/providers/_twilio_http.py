"""The HTTP client the Twilio SDK sends through: urllib3's connection pool, every request to
``api_base_url``.

The SDK lets an application bring its own ``twilio.http.HttpClient`` (its documented extension
point); its own is built on ``requests``, whose per-request preparation (merging session
settings, hooks, cookie jars, reading the proxy environment and ~/.netrc) cost more CPU than the
request itself on a campaign's hot path. This one sends the same request (the SDK's headers, its
form or JSON body, Basic auth) on a kept-alive pooled connection. The proxy environment
(HTTP(S)_PROXY, NO_PROXY) and a custom CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) are read
once, when the client is made.

Failures raise ``TransportError`` (``TransportTimeout`` when Twilio did not answer in time).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import certifi
import urllib3
from requests.utils import get_environ_proxies
from twilio.http import HttpClient
from twilio.http.http_client import _logger
from twilio.http.response import Response

_POOL_SIZE = 4  # connections kept per host and process (a worker sends one request at a time)


class TransportError(Exception):
    """Twilio could not be reached, or the connection broke before an answer."""


class TransportTimeout(TransportError):
    """Twilio did not answer within the timeout (it may have accepted the request)."""


class BaseUrlHttpClient(HttpClient):
    """Sends each SDK request to ``api_base_url``: the scheme and host of the SDK's URL are
    replaced (a path in ``api_base_url`` is prefixed), so ``https://api.twilio.com/2010-04-01/…``
    becomes ``http://127.0.0.1:8765/2010-04-01/…`` in tests. The last response is kept so the
    backend can read Retry-After; instances are per thread, so that is race-free."""

    def __init__(self, api_base_url: str, timeout: float) -> None:
        super().__init__(logger=_logger, is_async=False, timeout=timeout)
        self._base = urlsplit(api_base_url.rstrip("/"))
        self.last_response: Response | None = None
        proxies = get_environ_proxies(urlunsplit(self._base))  # honours NO_PROXY
        proxy = proxies.get(self._base.scheme) or proxies.get("all")
        options: dict[str, Any] = {"maxsize": _POOL_SIZE, "retries": False, "block": False}
        if self._base.scheme == "https":
            options.update(cert_reqs="CERT_REQUIRED",
                           ca_certs=os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
                           or certifi.where())
        self._pool = urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)

    def rewrite(self, url: str) -> str:
        """Return ``url`` with scheme, host and path prefix taken from the base URL."""
        parts = urlsplit(url)
        base = self._base
        return urlunsplit((base.scheme, base.netloc, base.path + parts.path, parts.query, parts.fragment))

    def request(self, method: str, url: str, params: dict[str, object] | None = None,
                data: dict[str, object] | None = None, headers: dict[str, str] | None = None,
                auth: tuple[str, str] | None = None, timeout: float | None = None,
                allow_redirects: bool = False) -> Response:
        """Send the SDK's request to the rewritten URL and remember the response."""
        self.last_response = None
        url = self.rewrite(url)
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params, doseq=True)
        headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        body = None
        if data:
            if headers.get("Content-Type") in ("application/json", "application/scim+json"):
                body = json.dumps(data).encode()
            else:
                body = urlencode(data, doseq=True).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        seconds = self.timeout if timeout is None else timeout
        if seconds is not None and seconds <= 0:
            raise ValueError(seconds)
        try:
            answer = self._pool.request(method.upper(), url, body=body, headers=headers,
                                        timeout=urllib3.Timeout(connect=seconds, read=seconds),
                                        redirect=allow_redirects, retries=False)
        except (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ProxyError) as exc:
            raise TransportError(type(exc).__name__) from exc  # refused (urllib3 files it under timeouts)
        except urllib3.exceptions.TimeoutError as exc:
            raise TransportTimeout(type(exc).__name__) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise TransportError(type(exc).__name__) from exc
        self.last_response = Response(answer.status, answer.data.decode("utf-8", errors="replace"),
                                      answer.headers)
        return self.last_response
