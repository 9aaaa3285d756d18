"""Provider webhooks skip the middleware that serves people in browsers.

A provider's request carries no cookie, session, CSRF token or signed-in user, and its answer
is never rendered by a browser, so sessions, authentication, 2FA, flash messages, framing and
content-security policies, the membership's tenant scope, the access gate and django-axes do
nothing for it but cost about a millisecond of the few a webhook takes. The provider's
signature, checked in the view, is its authentication; the view enters the channel's tenant
scope itself. What still applies: everything above this middleware in ``MIDDLEWARE``
(SecurityMiddleware's HTTPS redirect and HSTS) and the audit request context (request id,
client address), bound here as for every request.
"""

from __future__ import annotations

from django.urls import Resolver404, resolve

from audit.middleware import RequestContextMiddleware

WEBHOOK_PREFIX = "/webhooks/"


class ProviderWebhookMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._webhook = RequestContextMiddleware(self._call_view)

    def __call__(self, request):
        if not request.path_info.startswith(WEBHOOK_PREFIX):
            return self.get_response(request)
        return self._webhook(request)

    def _call_view(self, request):
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)  # the site's own 404, through the usual stack
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
