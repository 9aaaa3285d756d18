"""Settings → API keys: owners and admins make keys for partner systems and revoke them.

A new key is shown once, on the page that answers the POST (never in a URL, never again).
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.api_key_services import create_api_key, list_api_keys, revoke_api_key
from accounts.api_keys import API_SCOPES, ApiKey
from accounts.roles import Perm, require


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=50, help_text="Which partner system uses it, e.g. “Scheduler”.")
    scopes = forms.MultipleChoiceField(
        choices=[(name, f"{name} — {text}") for name, (text, _) in API_SCOPES.items()],
        widget=forms.CheckboxSelectMultiple, help_text="Give the key only what the partner needs.")
    expires_at = forms.DateTimeField(required=False, label="Expires (optional)",
                                     widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))


def _page(request, form=None, new_key: str = "", status: int = 200):
    require(request.membership, Perm.API_KEYS_MANAGE)
    return render(request, "accounts/api_keys.html", {
        "keys": list_api_keys(actor=request.actor), "form": form or ApiKeyForm(), "new_key": new_key,
    }, status=status)


@login_required
def api_keys(request):
    if request.method != "POST":
        return _page(request)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=400)
    try:
        key, plaintext = create_api_key(actor=request.actor, name=form.cleaned_data["name"],
                                        scopes=form.cleaned_data["scopes"],
                                        expires_at=form.cleaned_data["expires_at"])
    except ValidationError as error:
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return _page(request, form=form, status=400)
    messages.success(request, f"Key {key.prefix} created. Copy it now: it is shown only once.")
    return _page(request, new_key=plaintext)


@login_required
@require_POST
def revoke(request, prefix: str):
    require(request.membership, Perm.API_KEYS_MANAGE)
    try:
        key = list_api_keys(actor=request.actor).get(prefix=prefix)
    except ApiKey.DoesNotExist:
        messages.error(request, "No such key in this organisation.")
        return redirect("api_keys")
    revoke_api_key(actor=request.actor, key_id=key.pk)
    messages.success(request, f"Key {key.prefix} revoked: requests with it are refused from now on.")
    return redirect("api_keys")
