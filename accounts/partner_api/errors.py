"""One error shape for every API answer that is not a success:

``{"error": {"code": "...", "message": "...", "field": "..." | null, "details": [...]}}``

``code`` is machine-readable and stable; ``message`` is a sentence a developer can act on;
validation errors list each field in ``details`` and name the first in ``field``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from accounts.partner_api.middleware import API_PREFIX

# Where Django logs its own 500s, so an API 500 reaches the same handlers and alerts.
request_logger = logging.getLogger("django.request")
_NOT_FOUND = "Not found: no such endpoint or object in your organisation (see /api/docs/)."
_SERVER_ERROR = "Something went wrong on our side. It has been logged; please try again later."


class ApiError(exceptions.APIException):
    """An error with our own code and status (quota refusals, send refusals, idempotency)."""

    def __init__(self, *, status_code: int, code: str, message: str, field: str | None = None,
                 details: Any = None, headers: dict | None = None) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.field = field
        self.details = details if details is not None else []
        self.extra_headers = headers or {}


def error_body(code: str, message: str, field: str | None = None, details: Any = None) -> dict:
    return {"error": {"code": code, "message": message, "field": field,
                      "details": details if details is not None else []}}


def _flatten(detail: Any, prefix: str = "") -> list[dict]:
    """DRF's nested validation detail as a flat list of {field, code, message}."""
    items: list[dict] = []
    if isinstance(detail, dict):
        for name, value in detail.items():
            field = f"{prefix}.{name}" if prefix else str(name)
            if name == "non_field_errors":
                field = prefix or None
            items.extend(_flatten(value, field or ""))
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, dict | list) and not isinstance(value, exceptions.ErrorDetail):
                items.extend(_flatten(value, f"{prefix}[{index}]" if prefix else str(index)))
            else:
                items.extend(_flatten(value, prefix))
    else:
        items.append({"field": prefix or None, "code": getattr(detail, "code", "invalid"),
                      "message": str(detail)})
    return items


_CODES = {
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def _declared_refusal(exc: Exception) -> Response | None:
    """A refusal from a higher app that says how the API answers it — ``http_status`` and
    ``as_dict()`` with ``code`` and ``message`` (billing's QuotaExceeded: 402 with the
    numbers) — without accounts importing that app."""
    status_code, as_dict = getattr(exc, "http_status", None), getattr(exc, "as_dict", None)
    if not isinstance(status_code, int) or not callable(as_dict):
        return None
    body = dict(as_dict())
    code, message = str(body.pop("code", "refused")), str(body.pop("message", exc))
    return Response(error_body(code, message, None, [{"field": None, "code": code, "message": message,
                                                      **body}]), status=status_code)


def as_drf_detail(exc: DjangoValidationError) -> dict | list:
    """A service's Django ValidationError as DRF's per-field detail: ``message_dict`` when it
    has fields, the ``field`` of accounts' ``InvalidValue``, else non-field messages."""
    if hasattr(exc, "error_dict"):
        return {name: list(messages) for name, messages in exc.message_dict.items()}
    field = getattr(exc, "field", "")
    messages = [exceptions.ErrorDetail(m, code=getattr(exc, "code", None) or "invalid") for m in exc.messages]
    return {field: messages} if field else messages


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, re-shaped; plus 413 for oversized bodies and 404 for Django's Http404."""
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", "The request body is too large: send at most "
                                   "the documented size, or upload files through the import endpoint."),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    declared = _declared_refusal(exc)
    if declared is not None:
        return declared
    if isinstance(exc, ApiError):
        response = Response(error_body(exc.error_code, str(exc.detail), exc.field, exc.details),
                            status=exc.status_code)
        for name, value in exc.extra_headers.items():
            response[name] = value
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found: no such object in your organisation.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_drf_detail(exc))
    response = drf_exception_handler(exc, context)
    if response is None:
        return _server_error(exc, context)
    if isinstance(exc, exceptions.ValidationError):
        details = _flatten(exc.detail)
        first = next((d["field"] for d in details if d["field"]), None)
        response.data = error_body("validation_error", "Some fields are not valid: see details.", first,
                                   details)
        return response
    code = getattr(exc, "default_code", None) or _CODES.get(response.status_code, "error")
    detail = getattr(exc, "detail", None)
    message = str(detail) if detail else "The request could not be completed."
    response.data = error_body(_CODES.get(response.status_code, code), message)
    return response


def _server_error(exc: Exception, context: dict) -> Response:
    """An exception no handler knows: logged with its traceback as Django logs a 500, told to the
    client only as the error shape (never the exception's text)."""
    request = context.get("request")
    django_request = getattr(request, "_request", request)
    view = context.get("view")
    request_logger.error("Internal Server Error in %s", type(view).__name__ if view else "API view",
                         exc_info=(type(exc), exc, exc.__traceback__))
    # As Django's handler: error reporters (and the test client, which re-raises) hear of it.
    got_request_exception.send(sender=None, request=django_request)
    set_rollback()
    response = Response(error_body("server_error", _SERVER_ERROR), status=500)
    response._has_been_logged = True  # logged above with its traceback: Django's log_response skips it
    return response


def page_not_found(request, exception=None):
    """handler404: the error shape under /api/ (an unrouted path too), the site's page elsewhere."""
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", _NOT_FOUND), status=status.HTTP_404_NOT_FOUND)
    return defaults.page_not_found(request, exception)


def server_error(request):
    """handler500: the error shape under /api/ (a crash outside a DRF view), the site's page elsewhere."""
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse(error_body("server_error", _SERVER_ERROR),
                            status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    return defaults.server_error(request)
