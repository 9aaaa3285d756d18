"""django-axes glue: which username a sign-in attempt names, and who is locked out now."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone


def username_from_request(request, credentials: dict | None = None) -> str:
    """The e-mail an attempt names, lower-cased (the wizard posts it as `auth-username`)."""
    value = ""
    if credentials:
        value = credentials.get("username") or credentials.get("email") or ""
    if not value and request is not None:
        data = getattr(request, "POST", {})
        value = data.get("auth-username") or data.get("username") or ""
    return str(value).strip().lower()


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How django-axes names a client in its log lines (AXES_CLIENT_STR_CALLABLE).

    Never the typed e-mail: people paste passwords into the e-mail field, and logs travel further
    than the database. A short keyed hash still lets an operator follow one account's attempts.
    """
    from django.utils.crypto import salted_hmac

    tag = salted_hmac("accounts.lockout.client_str", str(username or "")).hexdigest()[:12]
    return f"{{account: {tag}, ip_address: {ip_address}, path_info: {path_info}}}"


def locked_emails(emails: list[str]) -> set[str]:
    """Which of these e-mails are locked out right now (from any address)."""
    from axes.models import AccessAttempt

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    rows = AccessAttempt.objects.filter(
        username__in=[e.lower() for e in emails],
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=since,
    ).values_list("username", flat=True)
    return set(rows)


def lockout_response(request, original_response=None, credentials=None):
    """The lockout page (AXES_LOCKOUT_CALLABLE): says when sign-in opens again, in minutes and clock time."""
    from axes.models import AccessAttempt
    from django.shortcuts import render

    email = username_from_request(request, credentials)
    attempt = AccessAttempt.objects.filter(
        username=email, ip_address=getattr(request, "axes_ip_address", None)
    ).order_by("-attempt_time").first()
    now = timezone.now()
    retry_at = (attempt.attempt_time if attempt else now) + settings.AXES_COOLOFF_TIME
    minutes_left = max(1, -(-int((retry_at - now).total_seconds()) // 60))
    return render(request, "accounts/locked_out.html", {
        "failure_limit": settings.AXES_FAILURE_LIMIT, "retry_at": retry_at, "minutes_left": minutes_left,
        "lock_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }, status=429)
