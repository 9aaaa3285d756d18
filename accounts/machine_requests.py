"""Requests from machines skip the middleware that serves people in browsers.

A provider's webhook (messaging/webhook_middleware.py) and a partner's API call
(accounts/partner_api/middleware.py) carry no session, CSRF token or signed-in user, and their
answers are never rendered as pages: sessions, authentication, 2FA, flash messages, framing and
content-security policies, the member's tenant scope, the access gate and django-axes do nothing
for them but cost CPU. A subclass says which requests it takes (``takes``); those are answered by
their view under the audit request context (request id, client address), bound here as for every
request, with everything above the subclass in ``MIDDLEWARE`` still applied.
"""

from __future__ import annotations

from django.urls import Resolver404, ResolverMatch, resolve

from audit.middleware import RequestContextMiddleware


class MachineRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._machine = RequestContextMiddleware(self._call_view)

    def __call__(self, request):
        match = self.takes(request)
        if match is None:
            return self.get_response(request)
        request.resolver_match = match
        return self._machine(request)

    def takes(self, request) -> ResolverMatch | None:
        """The request's resolved view when this middleware answers it, else None (the usual stack)."""
        raise NotImplementedError

    def _call_view(self, request):
        match = request.resolver_match
        response = match.func(request, *match.args, **match.kwargs)
        if callable(getattr(response, "render", None)):  # DRF's template response, as the handler does
            response = response.render()
        return response


def resolved_under(request, prefix: str) -> ResolverMatch | None:
    """The request's view if its path starts with ``prefix`` and resolves (an unknown path gets the
    site's own 404, through the usual stack)."""
    if not request.path_info.startswith(prefix):
        return None
    try:
        return resolve(request.path_info)
    except Resolver404:
        return None
