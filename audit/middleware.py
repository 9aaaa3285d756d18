"""Binds request id, client address and user agent for audit events of this request."""

from __future__ import annotations

import re
import uuid

from audit import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _client_ip(request) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it,
    # and the proxy in front of gunicorn is expected to set REMOTE_ADDR through the socket.
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    """Gives every request an id (honouring a well-formed X-Request-ID) and binds audit context."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = context.bind(
            request_id=request.request_id,
            ip=_client_ip(request),
            user_agent=request.headers.get("User-Agent", "")[:256],
            actor=None,
            organization=None,
        )
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request.request_id
        return response
