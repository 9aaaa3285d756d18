"""Contacts web UI: thin doors onto services and selectors. Roles are enforced here (403) and in
the services; templates only hide what a role cannot do."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts import blind_index
from accounts.roles import Perm, require
from contacts import custom_fields, selectors, services
from contacts.forms import ContactForm
from contacts.models import CHANNELS, Channel, CustomField

PAGE_SIZE = 50


def list_filters(request) -> dict:
    """The list's filters from the query string (shared with export: it exports what you see)."""
    tag = request.GET.get("tag", "")
    return {
        "query": request.GET.get("q", ""),
        "tag_id": int(tag) if tag.isdigit() else None,
        "consent": request.GET.get("consent", ""),
        "consent_channel": request.GET.get("consent_channel", "sms"),
        "channel": request.GET.get("channel", ""),
    }


@login_required
def contact_list(request):
    require(request.membership, Perm.CONTACTS_VIEW)
    filters = list_filters(request)
    contacts = selectors.filter_contacts(request.organization, **filters)
    page = Paginator(contacts, PAGE_SIZE).get_page(request.GET.get("page"))
    tags = selectors.tags_by_contact([c.pk for c in page])
    rows = [(c, tags.get(c.pk, [])) for c in page]
    params = request.GET.copy()
    params.pop("page", None)
    return render(request, "contacts/list.html", {
        "page": page, "rows": rows, "query": filters["query"], "filters": filters,
        "all_tags": selectors.tags(), "channels": Channel.choices, "querystring": params.urlencode(),
    })


@login_required
def contact_detail(request, contact_id: int):
    require(request.membership, Perm.CONTACTS_VIEW)
    contact = selectors.get_contact(contact_id=contact_id, actor=request.user)
    defs = custom_fields.definitions()
    custom = [(defs[k].label if k in defs else k, v) for k, v in (contact.custom_values or {}).items()]
    return render(request, "contacts/detail.html", {
        "contact": contact, "custom": custom,
        "tags": selectors.tags_by_contact([contact.pk]).get(contact.pk, []),
        "consent": [(label, selectors.consent_state(contact, ch)) for ch, label in Channel.choices],
    })


def _form(request, contact=None) -> ContactForm:
    fields = list(CustomField.objects.all())
    if request.method == "POST":
        return ContactForm(request.POST, custom_fields=fields)
    initial = {}
    if contact is not None:
        initial = {k: getattr(contact, k) for k in services.CONTACT_FIELDS}
        initial.update({f"custom_{k}": v for k, v in (contact.custom_values or {}).items()})
    return ContactForm(initial=initial, custom_fields=fields)


def _save(request, form: ContactForm, contact=None):
    try:
        if contact is None:
            return services.create_contact(organization=request.organization, actor=request.user,
                                           custom_values=form.custom_values(), **form.contact_values())
        return services.update_contact(contact=contact, actor=request.user,
                                       custom_values=form.custom_values(), **form.contact_values())
    except blind_index.InvalidPhoneNumber:
        form.add_error("phone", "This is not a valid phone number for its country — check the digits, "
                                "and add the +country code for numbers from abroad.")
    except ValueError as exc:
        form.add_error(None, str(exc))
    return None


@login_required
def contact_create(request):
    require(request.membership, Perm.CONTACTS_EDIT)
    form = _form(request)
    if request.method == "POST" and form.is_valid():
        contact = _save(request, form)
        if contact is not None:
            messages.success(request, "Contact added.")
            return redirect("contacts:detail", contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": None})


@login_required
def contact_edit(request, contact_id: int):
    require(request.membership, Perm.CONTACTS_EDIT)
    contact = selectors.get_contact(contact_id=contact_id, actor=request.user)
    form = _form(request, contact)
    if request.method == "POST" and form.is_valid() and _save(request, form, contact) is not None:
        messages.success(request, "Contact saved.")
        return redirect("contacts:detail", contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": contact})


@login_required
def contact_delete(request, contact_id: int):
    require(request.membership, Perm.CONTACTS_DELETE)
    contact = selectors.get_contact(contact_id=contact_id, actor=request.user, audit_view=False)
    if request.method == "POST":
        services.delete_contact(contact=contact, actor=request.user)
        messages.success(request, "Contact deleted.")
        return redirect("contacts:list")
    return render(request, "contacts/confirm_delete.html", {"contact": contact})


@login_required
@require_POST
def contact_consent(request, contact_id: int):
    require(request.membership, Perm.CONTACTS_EDIT)
    contact = selectors.get_contact(contact_id=contact_id, actor=request.user, audit_view=False)
    channel, state = request.POST.get("channel"), request.POST.get("opted_in")
    if channel not in CHANNELS or state not in {"yes", "no"}:
        messages.error(request, "Choose a channel and whether the patient opted in or out.")
    else:
        services.set_consent(contact=contact, channel=channel, opted_in=state == "yes", source="staff",
                             actor=request.user)
        messages.success(request, "Consent recorded.")
    return redirect("contacts:detail", contact.pk)


@login_required
@require_POST
def bulk_tag(request):
    require(request.membership, Perm.CONTACTS_EDIT)
    ids = [int(i) for i in request.POST.getlist("contact") if i.isdigit()]
    action = request.POST.get("action")
    if not ids:
        messages.error(request, "Tick at least one contact first.")
    elif action not in {"tag", "untag"}:
        messages.error(request, "Choose whether to add or remove the tag.")
    else:
        try:
            count = services.tag_contacts(organization=request.organization, contact_ids=ids,
                                          tag_name=request.POST.get("tag_name", ""), remove=action == "untag",
                                          actor=request.user)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            verb = "Removed the tag from" if action == "untag" else "Tagged"
            messages.success(request, f"{verb} {count} contact{'s' if count != 1 else ''}.")
    back = request.POST.get("next", "")
    # `next` is the list's own query string (filters, page): appended to our path, never a host.
    return redirect(f"{reverse('contacts:list')}?{back}" if back else "contacts:list")
