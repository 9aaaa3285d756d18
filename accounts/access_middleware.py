"""Access middleware: security headers, session lifetime (idle and absolute), and the access gate.

The gate sends a signed-in person who must first verify their e-mail or set up two-factor
authentication to that page before any other; only the pages needed to do so stay open.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import Resolver404, resolve

from accounts.audit_hooks import SESSION_AUTH_STARTED, SESSION_LAST_SEEN, SESSION_SIGNUP_PENDING
from accounts.security import has_two_factor, sign_out, two_factor_required

# Views a person may reach while the gate holds them (by URL name).
GATE_OPEN_VIEWS = frozenset({
    "login", "logout", "healthz", "signup", "verify_email", "verify_email_sent", "resend_verification",
    "accept_invitation", "two_factor:setup", "two_factor:qr", "session_ping", "session_status",
    "password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete",
    "javascript-catalog", "set_language",
})
# Don't rewrite the session on every request: activity is recorded at this resolution.
LAST_SEEN_RESOLUTION_SECONDS = 15
# Requests a page makes by itself (polls, the idle timer's status check) send this header: they
# are not a person's activity, so they never extend the session (HIPAA automatic logoff).
BACKGROUND_HEADER = "X-CareRelay-Background"


def is_background(request) -> bool:
    """Whether the request was made by a page on its own (a poll), not by the person."""
    return request.headers.get(BACKGROUND_HEADER) == "1"


def idle_limit_seconds(request) -> int:
    organization = getattr(request, "organization", None)
    minutes = (organization.idle_timeout_minutes if organization is not None
               else settings.SESSION_IDLE_TIMEOUT_DEFAULT_MINUTES)
    return minutes * 60


def idle_seconds_left(request) -> int:
    """Seconds until this session idles out, from the last time the person acted (not polls)."""
    now = int(time.time())
    last_seen = request.session.get(SESSION_LAST_SEEN, now)
    return max(0, idle_limit_seconds(request) - (now - last_seen))


class SecurityHeadersMiddleware:
    """Permissions-Policy on every response; no caching of pages shown to a signed-in person."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            # Pages may hold PHI: the browser and any proxy must not keep a copy.
            response["Cache-Control"] = "no-store"
        return response


def _view_name(request) -> str | None:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return None


def _back_to_login(request, message: str, *, background: bool = False):
    messages.info(request, message)
    if background:
        # A poll must not follow a redirect to the sign-in page (it would show, and spend, the
        # message): 401 tells the page to reload, and the next page shows the message.
        response = HttpResponse(status=401)
        response["X-CareRelay-Signed-Out"] = "1"
        return response
    if request.method == "GET":
        return redirect_to_login(request.get_full_path())
    return redirect(settings.LOGIN_URL)


class SessionLifetimeMiddleware:
    """Ends sessions idle longer than the organisation allows (5 to 60 min) or older than 12 hours."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            response = self._enforce(request)
            if response is not None:
                return response
        return self.get_response(request)

    def _enforce(self, request):
        session = request.session
        now = int(time.time())
        started = session.setdefault(SESSION_AUTH_STARTED, now)
        background = is_background(request)
        idle_minutes = idle_limit_seconds(request) // 60
        if now - started > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
            sign_out(request, reason="expired")
            hours = settings.SESSION_ABSOLUTE_LIFETIME_SECONDS // 3600
            return _back_to_login(request, f"Sessions last at most {hours} hours. Please sign in again.",
                                  background=background)
        if idle_seconds_left(request) <= 0:
            sign_out(request, reason="idle")
            return _back_to_login(
                request, f"You were signed out after {idle_minutes} minutes without activity, to protect "
                         "patient information. Please sign in again.", background=background)
        if not background and now - session.get(SESSION_LAST_SEEN, 0) >= LAST_SEEN_RESOLUTION_SECONDS:
            session[SESSION_LAST_SEEN] = now
        return None


class AccessGateMiddleware:
    """Verified e-mail first (self sign-ups), then two-factor set-up for whoever must have it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if not request.path_info.startswith(settings.STATIC_URL):
            if user.is_authenticated:
                if _view_name(request) not in GATE_OPEN_VIEWS:
                    response = self._gate(request, user)
                    if response is not None:
                        return response
            elif request.session.get(SESSION_SIGNUP_PENDING) and _view_name(request) not in GATE_OPEN_VIEWS:
                # The visitor who just signed up waits for the confirmation e-mail (or signs in):
                # the same for a new account as for an address that already had one.
                return redirect("verify_email_sent")
        return self.get_response(request)

    def _gate(self, request, user):
        if user.email_verification_required and user.email_verified_at is None:
            return redirect("verify_email_sent")
        if not user.is_verified() and (two_factor_required(user) or has_two_factor(user)):
            # Whoever has a second factor works only in sessions that passed it: a session opened
            # before the factor was added (another browser) must sign in again, even where 2FA is
            # optional.
            if has_two_factor(user):
                # A session that never passed the second factor (e.g. the factor was added
                # elsewhere): sign in again, this time with the code.
                sign_out(request, reason="unverified")
                return _back_to_login(request, "Please sign in again with your verification code.")
            return redirect("two_factor:setup")
        return None
