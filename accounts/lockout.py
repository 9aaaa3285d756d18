"""django-axes glue: which account a sign-in attempt names, and who is locked out now.

Two locks hold at once:
- per account and client address (django-axes: AXES_FAILURE_LIMIT failures lock the pair);
- per account from every address (ACCOUNT_LOCKOUT_FAILURE_LIMIT failures within
  AXES_COOLOFF_TIME, summed over all addresses): a guesser spread over many addresses is
  stopped too, while one person mistyping from one place still meets the small per-pair limit.

Axes stores no typed text: its "username" is a keyed hash of the canonical e-mail
(`lockout_key`), and the request data of failed attempts is dropped before it is saved.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone
from django.utils.crypto import salted_hmac

from accounts.email_address import canonical_email


def typed_email(request, credentials: dict | None = None) -> str:
    """The canonical e-mail an attempt names (the wizard posts it as `auth-username`)."""
    value = ""
    if credentials:
        value = credentials.get("username") or credentials.get("email") or ""
    if not value and request is not None:
        data = getattr(request, "POST", {})
        value = data.get("auth-username") or data.get("username") or ""
    return canonical_email(value)


def lockout_key(email: str) -> str:
    """What django-axes stores for an account: a keyed hash of its canonical e-mail, never the text."""
    canonical = canonical_email(email)
    if not canonical:
        return ""
    return "acct:" + salted_hmac("accounts.lockout.key", canonical, algorithm="sha256").hexdigest()


def username_from_request(request, credentials: dict | None = None) -> str:
    """AXES_USERNAME_CALLABLE: the lockout key of the e-mail the attempt names."""
    return lockout_key(typed_email(request, credentials))


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How django-axes names a client in its log lines (AXES_CLIENT_STR_CALLABLE).

    Never the typed e-mail: people paste passwords into the e-mail field, and logs travel further
    than the database. A short keyed hash still lets an operator follow one account's attempts.
    """
    tag = salted_hmac("accounts.lockout.client_str", str(username or "")).hexdigest()[:12]
    return f"{{account: {tag}, ip_address: {ip_address}, path_info: {path_info}}}"


def _recent_attempts(keys):
    from axes.models import AccessAttempt

    since = timezone.now() - settings.AXES_COOLOFF_TIME
    return AccessAttempt.objects.filter(username__in=list(keys), attempt_time__gte=since)


def account_failures(email: str) -> int:
    """Failed sign-ins for this account within the cool-off window, from every address."""
    key = lockout_key(email)
    if not key:
        return 0
    return _recent_attempts([key]).aggregate(n=Sum("failures_since_start"))["n"] or 0


def account_locked(email: str) -> bool:
    """Whether the account is locked from every address (the per-account limit)."""
    return account_failures(email) >= settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT


def is_locked(request, credentials: dict | None = None) -> bool:
    """Either lock: this account from this address (axes), or this account from everywhere."""
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.is_locked(request, credentials) or account_locked(
        typed_email(request, credentials))


def locked_emails(emails: list[str]) -> set[str]:
    """Which of these e-mails (canonical form returned) are locked out right now, by either lock."""
    by_key = {lockout_key(e): canonical_email(e) for e in emails if e}
    rows = _recent_attempts(by_key).values("username").annotate(
        total=Sum("failures_since_start"), worst=Max("failures_since_start"))
    return {by_key[row["username"]] for row in rows
            if row["worst"] >= settings.AXES_FAILURE_LIMIT
            or row["total"] >= settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT}


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' backend plus the per-account lock: refused before any password is checked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is not None and account_locked(canonical_email(username)):
            from axes.handlers.proxy import AxesProxyHandler

            AxesProxyHandler.update_request(request)
            request.axes_locked_out = True
            request.axes_credentials = {"username": username}
            raise AxesBackendPermissionDenied("Sign-in for this account is paused.")
        return super().authenticate(request, username=username, password=password, **kwargs)


def drop_typed_request_data(sender, instance, **kwargs) -> None:
    """pre_save of axes' AccessAttempt: keep no GET/POST text of a failed sign-in (only counts)."""
    instance.get_data = ""
    instance.post_data = ""


def lockout_response(request, original_response=None, credentials=None):
    """The lockout page (AXES_LOCKOUT_CALLABLE): says when sign-in opens again, in minutes and clock time."""
    from django.shortcuts import render

    key = username_from_request(request, credentials)
    recent = _recent_attempts([key]) if key else None
    attempt = None
    if recent is not None:
        attempt = (recent.filter(ip_address=getattr(request, "axes_ip_address", None))
                   .order_by("-attempt_time").first() or recent.order_by("-attempt_time").first())
    every_address = attempt is None or attempt.failures_since_start < settings.AXES_FAILURE_LIMIT
    now = timezone.now()
    retry_at = (attempt.attempt_time if attempt else now) + settings.AXES_COOLOFF_TIME
    minutes_left = max(1, -(-int((retry_at - now).total_seconds()) // 60))
    return render(request, "accounts/locked_out.html", {
        "failure_limit": settings.AXES_FAILURE_LIMIT, "retry_at": retry_at, "minutes_left": minutes_left,
        "lock_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        "every_address": every_address, "account_limit": settings.ACCOUNT_LOCKOUT_FAILURE_LIMIT,
    }, status=429)
