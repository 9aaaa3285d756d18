"""Provider webhooks skip the middleware that serves people in browsers (accounts/machine_requests.py).

A provider's request carries no cookie, session, CSRF token or signed-in user, and its answer
is never rendered by a browser; skipping that middleware saves about a millisecond of the few a
webhook takes. The provider's signature, checked in the view, is its authentication; the view
enters the channel's tenant scope itself. What still applies: everything above this middleware
in ``MIDDLEWARE`` (SecurityMiddleware's HTTPS redirect and HSTS) and the audit request context.
"""

from __future__ import annotations

from accounts.machine_requests import MachineRequestMiddleware, resolved_under

WEBHOOK_PREFIX = "/webhooks/"


class ProviderWebhookMiddleware(MachineRequestMiddleware):
    def takes(self, request):
        return resolved_under(request, WEBHOOK_PREFIX)
