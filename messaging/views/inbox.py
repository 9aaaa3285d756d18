"""The staff inbox: conversation list, thread, replies, templates, assignment, canned responses.

Thin doors: reads through messaging.selectors (which audit PHI views), writes through
messaging.services. Role checks here only decide what to show and fail fast; the services
enforce them again.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Perm
from messaging import selectors
from messaging.forms import AssignForm, CannedResponseForm, ReplyForm, SettleUnknownForm, TemplateSendForm
from messaging.models import Channel, Conversation, Message
from messaging.segments import gsm7_tables
from messaging.services import canned as canned_services
from messaging.services import conversations as conversation_services
from messaging.services import outbound, unknown_sends
from messaging.services import templates as template_services
from messaging.views.common import contact_label, conversation_row, is_opted_out, message_row

INBOX_VIEWS = {
    "all": "All open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "closed": "Closed",
}
DEFAULT_VIEW = "all"


def _can(request: HttpRequest, perm: Perm) -> bool:
    actor = getattr(request, "actor", None)
    return actor is not None and actor.can(perm)


def seen_views(request: HttpRequest) -> selectors.SeenViews:
    """The session's record of audited views: a thread is audited once per session."""
    return selectors.SeenViews(request.session)


def inbox_view_name(request: HttpRequest) -> str:
    """The list filter from ?view= (not PHI), defaulting to all open conversations."""
    view = request.GET.get("view", DEFAULT_VIEW)
    return view if view in INBOX_VIEWS else DEFAULT_VIEW


@login_required
@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    """The conversation list with its filters; inbox-live.js refreshes it in place."""
    view = inbox_view_name(request)
    conversations = selectors.inbox_conversations(actor=request.actor, view=view, seen=seen_views(request))
    return render(request, "messaging/inbox.html", {
        "view": view,
        "views": INBOX_VIEWS,
        "rows": [conversation_row(c) for c in conversations],
        "unread_total": selectors.unread_total(actor=request.actor),
    })


def _thread_context(request: HttpRequest, conversation: Conversation, *, reply_form: ReplyForm | None = None,
                    template_form: TemplateSendForm | None = None, refusal: str = "") -> dict[str, Any]:
    """Everything the thread page shows; shared by GET and by a POST that must re-render."""
    channel = conversation.channel
    is_whatsapp = channel.kind == Channel.Kind.WHATSAPP
    window_open = selectors.window_open(conversation) if is_whatsapp else True
    thread = list(selectors.thread_messages(actor=request.actor, conversation=conversation))
    templates = template_services.active_templates(actor=request.actor, channel=channel)
    can_send = _can(request, Perm.MESSAGES_SEND)
    template_form = template_form or TemplateSendForm(channel=channel)
    # As many value inputs as the longest template needs; inbox-compose.js shows the chosen one's.
    wanted = min(max((t.parameter_count for t in templates), default=0), TemplateSendForm.MAX_PARAMETERS)
    tables = gsm7_tables()
    return {
        "conversation": conversation,
        "contact": conversation.contact,
        "contact_name": contact_label(conversation.contact),
        "channel": channel,
        "is_whatsapp": is_whatsapp,
        "rows": [message_row(m) for m in thread],
        "last_id": thread[-1].pk if thread else 0,
        "window_open": window_open,
        "window_closes_at": selectors.window_closes_at(conversation) if is_whatsapp else None,
        "opted_out": is_opted_out(conversation),
        "can_send": can_send,
        "can_assign": _can(request, Perm.CONVERSATIONS_ASSIGN),
        "can_manage": _can(request, Perm.CHANNELS_MANAGE),
        "reply_form": reply_form or ReplyForm(),
        "template_form": template_form,
        "template_params": [template_form[f"param_{i}"] for i in range(1, wanted + 1)],
        "templates": templates,
        "assign_form": AssignForm(organization=request.organization,
                                  initial={"assignee": conversation.assigned_to_id}),
        "canned_responses": canned_services.canned_responses(actor=request.actor) if can_send else [],
        "refusal": refusal,
        # The browser counter applies the same GSM-7 tables as messaging/segments.py; code
        # points, because HTML attribute parsing would turn the table's CR into LF.
        "gsm_basic": ",".join(str(ord(c)) for c in tables.basic),
        "gsm_extension": ",".join(str(ord(c)) for c in tables.extension),
    }


@login_required
@require_GET
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """One thread, audited as viewed (by the selector) and marked read on open."""
    conversation = _viewed(request, conversation_id)
    if conversation.unread_count:
        conversation_services.mark_conversation_read(conversation=conversation, actor=request.actor)
    return render(request, "messaging/thread.html", _thread_context(request, conversation))


def _viewed(request: HttpRequest, conversation_id: int) -> Conversation:
    """The thread about to be shown, audited once per session (the selector keeps count)."""
    return selectors.get_conversation(conversation_id=conversation_id, actor=request.actor,
                                      seen=seen_views(request))


def _conversation_for_post(request: HttpRequest, conversation_id: int, perm: Perm) -> Conversation:
    """The conversation a POST acts on: another organisation's id is a 404 like a missing one.

    Not audited as a view: the POST shows nothing, and the redirect to the thread is audited.
    """
    return selectors.conversation_for_action(conversation_id=conversation_id, actor=request.actor, perm=perm)


def _thread_url(conversation: Conversation, anchor: str = "") -> str:
    return reverse("messaging:thread", args=[conversation.pk]) + (f"#{anchor}" if anchor else "")


def _refusal_text(exc: Exception) -> str:
    """What staff read when a send is refused (the service wrote it for people)."""
    return str(getattr(exc, "message", "") or exc)


@login_required
@require_POST
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Send a free-form reply; a refusal (opted out, window closed, quota) keeps the draft."""
    conversation = _conversation_for_post(request, conversation_id, Perm.MESSAGES_SEND)
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            outbound.send_reply(conversation=conversation, body=form.cleaned_data["body"],
                                actor=request.actor)
        except outbound.SendRefused as exc:
            conversation = _viewed(request, conversation.pk)
            return render(request, "messaging/thread.html",
                          _thread_context(request, conversation, reply_form=form, refusal=_refusal_text(exc)))
        return redirect(_thread_url(conversation, "composer"))
    conversation = _viewed(request, conversation.pk)
    return render(request, "messaging/thread.html", _thread_context(request, conversation, reply_form=form))


@login_required
@require_POST
def send_template(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Send an approved WhatsApp template (the only thing allowed outside the 24-hour window)."""
    conversation = _conversation_for_post(request, conversation_id, Perm.MESSAGES_SEND)
    form = TemplateSendForm(request.POST, channel=conversation.channel)
    if form.is_valid():
        try:
            outbound.send_template(conversation=conversation, template=form.cleaned_data["template"],
                                   parameters=form.cleaned_data["parameters"], actor=request.actor)
        except outbound.SendRefused as exc:
            conversation = _viewed(request, conversation.pk)
            return render(request, "messaging/thread.html",
                          _thread_context(request, conversation, template_form=form,
                                          refusal=_refusal_text(exc)))
        return redirect(_thread_url(conversation, "composer"))
    conversation = _viewed(request, conversation.pk)
    return render(request, "messaging/thread.html",
                  _thread_context(request, conversation, template_form=form))


@login_required
@require_POST
def settle_unknown(request: HttpRequest, conversation_id: int, message_id: int) -> HttpResponse:
    """Staff's answer for a send in doubt ("unknown — check"): went out, send again, or not sent."""
    conversation = _conversation_for_post(request, conversation_id, Perm.MESSAGES_SEND)
    form = SettleUnknownForm(request.POST)
    if not form.is_valid():
        flash.error(request, "Choose what the provider's log shows for this message.")
        return redirect(_thread_url(conversation))
    try:
        unknown_sends.settle_unknown_send(actor=request.actor, message_id=message_id,
                                          conversation_id=conversation.pk, **form.cleaned_data)
    except Message.DoesNotExist:
        raise Http404 from None
    except unknown_sends.SettleRefused as exc:
        flash.error(request, exc.message)
    else:
        flash.success(request, _SETTLED_TEXT[form.cleaned_data["settlement"]])
    return redirect(_thread_url(conversation))


_SETTLED_TEXT = {
    unknown_sends.Settlement.WENT_OUT: "Marked as sent: it will not be sent again.",
    unknown_sends.Settlement.SEND_AGAIN: "Queued to send again (consent and the channel's rate are checked "
                                         "again as it goes).",
    unknown_sends.Settlement.NOT_SENT: "Marked as not sent: nothing more goes out for this message.",
}


@login_required
@require_POST
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """Assign the conversation to a member who may reply (or to nobody)."""
    conversation = _conversation_for_post(request, conversation_id, Perm.CONVERSATIONS_ASSIGN)
    form = AssignForm(request.POST, organization=request.organization)
    if not form.is_valid():
        flash.error(request, form.errors["assignee"][0])
        return redirect(_thread_url(conversation))
    assignee = form.cleaned_data["assignee"]
    try:
        conversation_services.assign_conversation(conversation=conversation, assignee=assignee,
                                                  actor=request.actor)
    except ValidationError as exc:
        flash.error(request, exc.messages[0])
        return redirect(_thread_url(conversation))
    flash.success(request, f"Assigned to {assignee.display_name}." if assignee else "Unassigned.")
    return redirect(_thread_url(conversation))


@login_required
@require_POST
def close(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_for_post(request, conversation_id, Perm.CONVERSATIONS_ASSIGN)
    conversation_services.close_conversation(conversation=conversation, actor=request.actor)
    flash.success(request, "Conversation closed. A new message from the patient reopens it.")
    return redirect(_thread_url(conversation))


@login_required
@require_POST
def reopen(request: HttpRequest, conversation_id: int) -> HttpResponse:
    conversation = _conversation_for_post(request, conversation_id, Perm.CONVERSATIONS_ASSIGN)
    try:
        conversation_services.reopen_conversation(conversation=conversation, actor=request.actor)
    except ValidationError as exc:
        # The patient already has a newer open conversation on this channel.
        flash.error(request, exc.messages[0])
    else:
        flash.success(request, "Conversation reopened.")
    return redirect(_thread_url(conversation))


def _require_manage(request: HttpRequest) -> None:
    # The page itself is for admins: refuse before rendering anything (the services check again).
    selectors.require_actor(request.actor, Perm.CHANNELS_MANAGE)


@login_required
def canned_responses(request: HttpRequest) -> HttpResponse:
    """Admins manage the organisation's canned responses; staff pick them in a thread."""
    _require_manage(request)
    form = CannedResponseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            canned_services.create_canned_response(actor=request.actor, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            flash.success(request, "Canned response added.")
            return redirect("messaging:canned_responses")
    return render(request, "messaging/canned_responses.html", {
        "form": form, "canned_responses": canned_services.canned_responses(actor=request.actor),
    })


@login_required
def canned_response_edit(request: HttpRequest, canned_id: int) -> HttpResponse:
    canned = canned_services.get_canned_response(actor=request.actor, canned_id=canned_id)
    # The form may change this instance in memory; the service compares the stored row.
    form = CannedResponseForm(request.POST or None, instance=canned)
    if request.method == "POST" and form.is_valid():
        try:
            canned_services.update_canned_response(actor=request.actor, canned=canned, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            flash.success(request, "Canned response saved.")
            return redirect("messaging:canned_responses")
    return render(request, "messaging/canned_response_edit.html", {"form": form, "canned": canned})


@login_required
@require_POST
def canned_response_delete(request: HttpRequest, canned_id: int) -> HttpResponse:
    canned = canned_services.get_canned_response(actor=request.actor, canned_id=canned_id)
    canned_services.delete_canned_response(actor=request.actor, canned=canned)
    flash.success(request, "Canned response deleted.")
    return redirect("messaging:canned_responses")
