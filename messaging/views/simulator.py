"""The simulator: a staff member plays a patient's phone on a simulator channel.

What the "patient" types travels through messaging.webhooks.process_webhook — the same
signed-webhook pipeline a real provider's request goes through (keywords, new contacts,
conversations) — so the simulator exercises the product, not a shortcut around it.

The patient's number is PHI: it lives in the server-side session, never in a URL.
"""

from __future__ import annotations

import json
import uuid

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

import audit
from accounts.roles import Perm, require, role_has
from audit import AuditAction
from contacts.selectors import search_contacts
from messaging import selectors
from messaging.forms import SimulatorSelectForm, SimulatorSendForm, SimulatorStatusForm
from messaging.models import Channel
from messaging.providers import WebhookRequest, keys_playing_patient_in_browser
from messaging.providers.simulator import SIGNATURE_HEADER, sign_body
from messaging.services.channels import webhook_url
from messaging.views.common import contact_label, message_row

SESSION_KEY = "messaging.simulator"
QUICK_PICKS = 25  # demo contacts offered as suggestions in the phone field


def current_selection(request: HttpRequest) -> tuple[Channel, str] | None:
    """The (channel, phone) the simulator plays, from the session; None if unset or gone."""
    saved = request.session.get(SESSION_KEY) or {}
    channel = Channel.objects.filter(pk=saved.get("channel"),
                                     provider__in=keys_playing_patient_in_browser()).first()
    phone = saved.get("phone")
    if channel is None or not phone:
        return None
    return channel, phone


def _post_to_webhook(channel: Channel, payload: dict) -> bool:
    """Sign ``payload`` as the simulator provider does and run it through the webhook pipeline.

    Returns whether the pipeline accepted it (2xx), as a provider would see the answer.
    """
    # Imported here: the webhook pipeline pulls in every inbound handler, which pages without
    # a simulated message never need.
    from messaging.webhooks import process_webhook

    body = json.dumps(payload, separators=(",", ":")).encode()
    signature = sign_body(channel.webhook_secret or "", body)
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature}
    reply = process_webhook(channel, WebhookRequest.post(webhook_url(channel), headers=headers, body=body))
    return 200 <= reply.status < 300


@login_required
@require_GET
def simulator(request: HttpRequest) -> HttpResponse:
    """The phone: pick a channel and number, see what CareRelay sent it, answer as the patient."""
    require(request.membership, Perm.SIMULATOR_USE)
    channels = list(Channel.objects.filter(provider__in=keys_playing_patient_in_browser(), is_active=True))
    selection = current_selection(request)
    initial = {}
    if selection is not None:
        initial = {"channel": selection[0].pk, "phone": selection[1]}
    elif channels:
        initial = {"channel": channels[0].pk}
    quick_picks = [(c.phone, contact_label(c)) for c in
                   search_contacts(request.organization, "").exclude(phone_index="")
                   .order_by("created_at", "pk")[:QUICK_PICKS] if c.phone]
    if not initial.get("phone") and quick_picks:
        initial["phone"] = quick_picks[0][0]
    context = {
        "channels": channels,
        "select_form": SimulatorSelectForm(initial=initial, organization=request.organization),
        "send_form": SimulatorSendForm(),
        "quick_picks": quick_picks,
        "selection": selection,
        "can_manage": role_has(request.membership.role, Perm.CHANNELS_MANAGE),
    }
    if selection is not None:
        channel, phone = selection
        rows = [message_row(m) for m in selectors.simulator_messages(channel=channel, phone=phone)]
        # The page now shows this number's messages: a PHI read. The number itself stays
        # out of the audit detail (PHI); the channel says which phone line was looked at.
        audit.record(AuditAction.SIMULATOR_VIEWED, target=channel, actor=request.user,
                     detail={"messages": len(rows)})
        known = next((name for number, name in quick_picks if number == phone), "")
        context.update(channel=channel, phone=phone, patient_name=known, rows=rows,
                       last_id=rows[-1]["id"] if rows else 0)
    return render(request, "messaging/simulator.html", context)


@login_required
@require_POST
def simulator_select(request: HttpRequest) -> HttpResponse:
    """Choose channel + number; kept in the session so the number never enters a URL."""
    require(request.membership, Perm.SIMULATOR_USE)
    form = SimulatorSelectForm(request.POST, organization=request.organization)
    if not form.is_valid():
        for errors in form.errors.values():
            flash.error(request, errors[0])
        return redirect("messaging:simulator")
    request.session[SESSION_KEY] = {"channel": form.cleaned_data["channel"].pk,
                                    "phone": form.cleaned_data["phone"]}
    return redirect("messaging:simulator")


@login_required
@require_POST
def simulator_send(request: HttpRequest) -> HttpResponse:
    """The patient sends a text: an inbound webhook from the simulator provider."""
    require(request.membership, Perm.SIMULATOR_USE)
    selection = current_selection(request)
    if selection is None:
        flash.error(request, "Choose a channel and a phone number first.")
        return redirect("messaging:simulator")
    form = SimulatorSendForm(request.POST)
    if not form.is_valid():
        flash.error(request, form.errors["body"][0])
        return redirect("messaging:simulator")
    channel, phone = selection
    accepted = _post_to_webhook(channel, {
        "id": f"simin_{uuid.uuid4().hex}", "from": phone, "to": channel.address,
        "body": form.cleaned_data["body"],
    })
    if not accepted:
        flash.error(request, "The webhook refused the simulated message; check the channel is active.")
    return redirect("messaging:simulator")


@login_required
@require_POST
def simulator_status(request: HttpRequest) -> HttpResponse:
    """The "carrier" reports a delivery status for one of CareRelay's messages to this phone."""
    require(request.membership, Perm.SIMULATOR_USE)
    selection = current_selection(request)
    form = SimulatorStatusForm(request.POST)
    if selection is None or not form.is_valid():
        flash.error(request, "Choose a message shown on the phone.")
        return redirect("messaging:simulator")
    channel, phone = selection
    # Only a message this phone actually received, so ids from elsewhere change nothing.
    message = next((m for m in selectors.simulator_messages(channel=channel, phone=phone)
                    if m.pk == form.cleaned_data["message"] and m.direction == "outbound"), None)
    if message is None or not message.provider_message_id:
        flash.error(request, "That message has not been handed to the simulator yet.")
        return redirect("messaging:simulator")
    payload = {"id": message.provider_message_id, "status": form.cleaned_data["status"]}
    if form.cleaned_data["status"] in ("failed", "undelivered"):
        payload["error_code"] = "30003"  # Twilio's "Unreachable destination handset"
    if not _post_to_webhook(channel, payload):
        flash.error(request, "The webhook refused the simulated receipt.")
    return redirect("messaging:simulator")
