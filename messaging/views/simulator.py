"""The simulator: a staff member plays a patient's phone on a simulator channel.

What the "patient" types travels through messaging.webhooks.process_webhook — the same
signed-webhook pipeline a real provider's request goes through (keywords, new contacts,
conversations) — so the simulator exercises the product, not a shortcut around it.

The patient's number is PHI: the session holds the contact's id, never the number, and no
URL carries it.
"""

from __future__ import annotations

import json
import uuid

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Perm
from contacts.models import Contact, Origin
from contacts.services import create_contact
from messaging import selectors
from messaging.forms import SimulatorSelectForm, SimulatorSendForm, SimulatorStatusForm
from messaging.models import Channel
from messaging.providers import WebhookRequest
from messaging.providers.simulator import SIGNATURE_HEADER, sign_body
from messaging.services.channels import webhook_url
from messaging.views.common import message_row

SESSION_KEY = "messaging.simulator"
QUICK_PICKS = 25  # demo contacts offered as suggestions in the phone field


def current_selection(request: HttpRequest) -> tuple[Channel, Contact] | None:
    """The (channel, contact) the simulator plays, from the session's ids; None if unset or gone.

    The session holds ids only — never the number (sessions are stored server-side in plain
    form; the number is PHI and stays in the contact's encrypted column).
    """
    selectors.require_actor(request.actor, Perm.SIMULATOR_USE)
    saved = request.session.get(SESSION_KEY) or {}
    channel = selectors.simulator_channel(actor=request.actor, channel_id=saved.get("channel"))
    contact = selectors.simulator_contact(actor=request.actor, contact_id=saved.get("contact"))
    if channel is None or contact is None:
        return None
    return channel, contact


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
    actor = request.actor
    channels = selectors.simulator_channels(actor=actor)
    selection = current_selection(request)
    initial = {}
    if selection is not None:
        initial = {"channel": selection[0].pk, "phone": selection[1].phone}
    elif channels:
        initial = {"channel": channels[0].pk}
    # Names and numbers on the page: the selector records the suggestions shown.
    suggestions = selectors.simulator_suggestions(actor=actor, limit=QUICK_PICKS)
    quick_picks = [(s.phone, s.label) for s in suggestions]
    if not initial.get("phone") and quick_picks:
        initial["phone"] = quick_picks[0][0]
    context = {
        "channels": channels,
        "select_form": SimulatorSelectForm(initial=initial, organization=request.organization),
        "send_form": SimulatorSendForm(),
        "quick_picks": quick_picks,
        "selection": selection,
        "can_manage": actor.can(Perm.CHANNELS_MANAGE),
    }
    if selection is not None:
        channel, contact = selection
        # The page shows this number's messages: a PHI read, recorded by the selector once
        # per session and phone (the number itself stays out of the audit detail).
        rows = [message_row(m) for m in selectors.simulator_phone_messages(
            actor=actor, channel=channel, contact=contact, seen=selectors.SeenViews(request.session))]
        name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
        context.update(channel=channel, phone=contact.phone, patient_name=name, rows=rows,
                       last_id=rows[-1]["id"] if rows else 0)
    return render(request, "messaging/simulator.html", context)


def _contact_playing(request: HttpRequest, e164: str):
    """The contact whose phone the simulator plays: the organisation's contact with this number,
    or a new one, as the patient's first text would create (origin "inbound")."""
    contact = selectors.simulator_contact_for_phone(actor=request.actor, e164=e164)
    if contact is None:
        contact = create_contact(organization=request.organization, actor=request.actor,
                                 origin=Origin.INBOUND, phone=e164)
    return contact


@login_required
@require_POST
def simulator_select(request: HttpRequest) -> HttpResponse:
    """Choose channel + number; the session keeps the channel's and the contact's ids, so the
    number enters neither a URL nor the session."""
    selectors.require_actor(request.actor, Perm.SIMULATOR_USE)
    form = SimulatorSelectForm(request.POST, organization=request.organization)
    if not form.is_valid():
        for errors in form.errors.values():
            flash.error(request, errors[0])
        return redirect("messaging:simulator")
    try:
        contact = _contact_playing(request, form.cleaned_data["phone"])
    except (ValidationError, ValueError):
        # The contacts service refused the number (its message could echo it: not shown).
        flash.error(request, "That number cannot be used for a patient: enter a valid number in "
                             "international format, e.g. +14155550101.")
        return redirect("messaging:simulator")
    request.session[SESSION_KEY] = {"channel": form.cleaned_data["channel"].pk, "contact": contact.pk}
    return redirect("messaging:simulator")


@login_required
@require_POST
def simulator_send(request: HttpRequest) -> HttpResponse:
    """The patient sends a text: an inbound webhook from the simulator provider."""
    selection = current_selection(request)
    if selection is None:
        flash.error(request, "Choose a channel and a phone number first.")
        return redirect("messaging:simulator")
    form = SimulatorSendForm(request.POST)
    if not form.is_valid():
        flash.error(request, form.errors["body"][0])
        return redirect("messaging:simulator")
    channel, contact = selection
    accepted = _post_to_webhook(channel, {
        "id": f"simin_{uuid.uuid4().hex}", "from": contact.phone, "to": channel.address,
        "body": form.cleaned_data["body"],
    })
    if not accepted:
        flash.error(request, "The webhook refused the simulated message; check the channel is active.")
    return redirect("messaging:simulator")


@login_required
@require_POST
def simulator_status(request: HttpRequest) -> HttpResponse:
    """The "carrier" reports a delivery status for one of CareRelay's messages to this phone."""
    selection = current_selection(request)
    form = SimulatorStatusForm(request.POST)
    if selection is None or not form.is_valid():
        flash.error(request, "Choose a message shown on the phone.")
        return redirect("messaging:simulator")
    channel, contact = selection
    # Only a message this phone actually received, so ids from elsewhere change nothing.
    phone_messages = selectors.simulator_phone_messages(actor=request.actor, channel=channel, contact=contact,
                                                        seen=selectors.SeenViews(request.session))
    message = phone_messages.filter(pk=form.cleaned_data["message"], direction="outbound").first()
    if message is None or not message.provider_message_id:
        flash.error(request, "That message has not been handed to the simulator yet.")
        return redirect("messaging:simulator")
    payload = {"id": message.provider_message_id, "status": form.cleaned_data["status"]}
    if form.cleaned_data["status"] in ("failed", "undelivered"):
        payload["error_code"] = "30003"  # Twilio's "Unreachable destination handset"
    if not _post_to_webhook(channel, payload):
        flash.error(request, "The webhook refused the simulated receipt.")
    return redirect("messaging:simulator")
