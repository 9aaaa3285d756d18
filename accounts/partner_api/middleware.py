"""Partner-API requests skip the middleware that serves people in browsers.

A partner's request is authenticated by its API key alone (``ApiKeyAuthentication``), which also
enters the key's organisation's tenant scope; its answer is JSON that no browser renders as a
page. Sessions, the session's user and 2FA state, CSRF (DRF's views are exempt), flash messages,
framing and content-security policies, the signed-in member's tenant scope, session limits, the
access gate, the quota page and django-axes do nothing for it but cost a tenth of a reply's
CPU. Worse, a browser's session cookie sent along would enter that member's scope around the
request: here it is never read.

What still applies: everything above this middleware in ``MIDDLEWARE`` (SecurityMiddleware's
HTTPS redirect, HSTS and nosniff; SecurityHeadersMiddleware's Permissions-Policy and no-store)
and the audit request context (request id, client address), bound here as for every request.
Only views built on ``TenantViewSet`` take this path; the schema and its docs pages (HTML under
a strict CSP) go through the whole stack.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve

from audit.middleware import RequestContextMiddleware

API_PREFIX = "/api/"


class PartnerApiMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._api = RequestContextMiddleware(self._call_view)

    def __call__(self, request):
        if not request.path_info.startswith(API_PREFIX):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)  # the site's own 404, through the usual stack
        if not _is_partner_view(match.func):
            return self.get_response(request)
        request.resolver_match = match
        return self._api(request)

    def _call_view(self, request):
        match = request.resolver_match
        response = match.func(request, *match.args, **match.kwargs)
        if callable(getattr(response, "render", None)):  # a DRF Response, as the handler renders it
            response = response.render()
        return response


def _is_partner_view(view) -> bool:
    from accounts.partner_api.viewsets import TenantViewSet

    cls = getattr(view, "cls", None)
    return isinstance(cls, type) and issubclass(cls, TenantViewSet)
