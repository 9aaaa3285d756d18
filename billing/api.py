"""How the partner API answers a quota refusal: HTTP 402 with a machine-readable body.

``exception_handler`` wraps DRF's: set ``REST_FRAMEWORK["EXCEPTION_HANDLER"] =
"billing.api.exception_handler"`` (or call ``quota_exceeded_response`` from the project's own
handler). The body is ``QuotaExceeded.as_dict()``: ``code``, ``message``, ``needed``,
``included``, ``used``, ``remaining``.
"""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from billing.exceptions import QuotaExceeded


def quota_exceeded_response(exc: QuotaExceeded) -> Response:
    return Response({"error": exc.as_dict()}, status=exc.http_status)


def exception_handler(exc, context):
    if isinstance(exc, QuotaExceeded):
        return quota_exceeded_response(exc)
    return drf_exception_handler(exc, context)
