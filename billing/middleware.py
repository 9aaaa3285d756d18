"""A quota refusal that no view caught becomes a page with the sentence and the way forward.

Services raise ``billing.QuotaExceeded`` wherever an action does not fit the plan (a channel,
a contact, a send); views that have a form show it inline, every other door lands here
instead of on a server error: HTTP 402 with the message and links to billing and pricing.
"""

from __future__ import annotations

from django.shortcuts import render

from billing.exceptions import QuotaExceeded


class QuotaExceededMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, QuotaExceeded):
            return None
        return render(request, "billing/quota_exceeded.html", {"refusal": exception}, status=402)
