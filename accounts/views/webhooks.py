"""Settings → Webhooks: admins register partner endpoints, read their delivery logs, rotate
secrets, switch endpoints off/on and redeliver. A secret is shown once, on the answer to the
POST that made it (never in a URL)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.event_webhooks import selectors, services
from accounts.event_webhooks.events import event_types
from accounts.event_webhooks.models import WebhookEndpoint
from accounts.roles import Perm, require


class EndpointForm(forms.Form):
    url = forms.URLField(label="Endpoint URL", max_length=500, assume_scheme="https",
                         help_text="An https:// address of the partner system that receives events.")
    description = forms.CharField(max_length=100, required=False)
    event_types = forms.MultipleChoiceField(label="Events", widget=forms.CheckboxSelectMultiple, choices=())
    include_phi = forms.BooleanField(
        required=False, label="Include patient details (names, numbers, message text)",
        help_text="Off: payloads carry ids only; the partner fetches details through the API.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [(name, f"{name} — {t.description}")
                                              for name, t in event_types().items()]


def _endpoints(request):
    require(request.membership, Perm.WEBHOOKS_MANAGE)
    return selectors.endpoints(actor=request.actor)


def _list_page(request, form=None, secret: str = "", status: int = 200):
    return render(request, "accounts/webhooks.html", {
        "endpoints": _endpoints(request), "form": form or EndpointForm(), "new_secret": secret,
    }, status=status)


@login_required
def webhooks(request):
    if request.method != "POST":
        _endpoints(request)
        return _list_page(request)
    form = EndpointForm(request.POST)
    if not form.is_valid():
        _endpoints(request)
        return _list_page(request, form=form, status=400)
    try:
        endpoint, secret = services.create_endpoint(actor=request.actor, **form.cleaned_data)
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _list_page(request, form=form, status=400)
    messages.success(request, f"Endpoint #{endpoint.pk} registered. Copy its signing secret now.")
    return _list_page(request, secret=secret)


def _endpoint(request, endpoint_id: int) -> WebhookEndpoint:
    require(request.membership, Perm.WEBHOOKS_MANAGE)
    return selectors.endpoint(actor=request.actor, endpoint_id=endpoint_id)


@login_required
def endpoint_detail(request, endpoint_id: int, secret: str = ""):
    endpoint = _endpoint(request, endpoint_id)
    page = Paginator(selectors.deliveries(actor=request.actor, endpoint=endpoint), 50).get_page(
        request.GET.get("page"))
    return render(request, "accounts/webhook_detail.html", {
        "endpoint": endpoint, "page_obj": page, "new_secret": secret,
    })


@login_required
@require_POST
def rotate(request, endpoint_id: int):
    endpoint = _endpoint(request, endpoint_id)
    secret = services.rotate_secret(actor=request.actor, endpoint_id=endpoint.pk)
    messages.success(request, "New secret made. The old one keeps signing beside it for 24 hours.")
    return endpoint_detail(request, endpoint.pk, secret=secret)


@login_required
@require_POST
def toggle(request, endpoint_id: int):
    endpoint = _endpoint(request, endpoint_id)
    services.set_endpoint_active(actor=request.actor, endpoint_id=endpoint.pk, active=not endpoint.is_active)
    messages.success(request, "Endpoint switched " + ("off." if endpoint.is_active else "on."))
    return redirect("webhook_endpoint", endpoint_id=endpoint.pk)


@login_required
@require_POST
def delete(request, endpoint_id: int):
    endpoint = _endpoint(request, endpoint_id)
    services.delete_endpoint(actor=request.actor, endpoint_id=endpoint.pk)
    messages.success(request, "Endpoint deleted; nothing more is sent to it.")
    return redirect("webhooks")


@login_required
@require_POST
def redeliver(request, endpoint_id: int, delivery_id: int):
    endpoint = _endpoint(request, endpoint_id)
    if not selectors.deliveries(actor=request.actor, endpoint=endpoint).filter(pk=delivery_id).exists():
        raise Http404("No such delivery of this endpoint.")
    services.redeliver(actor=request.actor, delivery_id=delivery_id)
    messages.success(request, "Delivery queued again.")
    return redirect("webhook_endpoint", endpoint_id=endpoint.pk)
