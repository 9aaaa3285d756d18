"""Partner-API requests skip the middleware that serves people in browsers (accounts/machine_requests.py).

A partner's request is authenticated by its API key alone (``ApiKeyAuthentication``), which also
enters the key's organisation's tenant scope; its answer is JSON that no browser renders as a
page. Skipping the browser middleware saved a tenth of a reply's CPU, and a browser's session
cookie sent along would otherwise enter that member's scope around the request: here it is never
read. What still applies: everything above this middleware in ``MIDDLEWARE`` (SecurityMiddleware's
HTTPS redirect, HSTS and nosniff; SecurityHeadersMiddleware's Permissions-Policy and no-store)
and the audit request context. Only views built on ``TenantViewSet`` take this path; the schema
and its docs pages (HTML under a strict CSP) go through the whole stack.
"""

from __future__ import annotations

from accounts.machine_requests import MachineRequestMiddleware, resolved_under

API_PREFIX = "/api/"


class PartnerApiMiddleware(MachineRequestMiddleware):
    def takes(self, request):
        match = resolved_under(request, API_PREFIX)
        return match if match is not None and _is_partner_view(match.func) else None


def _is_partner_view(view) -> bool:
    from accounts.partner_api.viewsets import TenantViewSet

    cls = getattr(view, "cls", None)
    return isinstance(cls, type) and issubclass(cls, TenantViewSet)
