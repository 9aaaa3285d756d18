"""Contacts web UI: thin doors onto services and selectors, which check the actor's permission
themselves; the views keep a page-level check so a forbidden page is a 403 before any work.
Templates only hide what a role cannot do.

No PHI in URLs: the search form POSTs and the list is then addressed by an opaque token
(contacts.searches); only non-PHI filters (tag, consent, channel, page) may ride in a query string.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accounts.roles import Perm
from contacts import custom_fields, searches, selectors, services, tags
from contacts.forms import ContactForm
from contacts.models import CHANNELS, Channel
from contacts.selectors import ContactFilters

PAGE_SIZE = 50
SEARCH_TOKEN = "s"  # noqa: S105 - the query-string parameter's name, not a secret


def _filters_from(data, *, with_query: bool) -> ContactFilters:
    tag = data.get("tag", "")
    return ContactFilters(
        query=data.get("q", "").strip() if with_query else "",
        tag_id=int(tag) if tag.isdigit() else None,
        consent=data.get("consent", ""),
        consent_channel=data.get("consent_channel", "sms"),
        channel=data.get("channel", ""),
    )


def current_filters(request) -> tuple[ContactFilters, str]:
    """The list's filters and the search token naming them ("" when none): a token's saved search,
    else the non-PHI filters of the query string (a `q` there is ignored — it never belongs in a URL)."""
    token = request.GET.get(SEARCH_TOKEN, "")
    if token:
        saved = searches.load_search(actor=request.actor, token=token)
        if saved is not None:
            return saved, token
    return _filters_from(request.GET, with_query=False), ""


def list_filters(request) -> dict:
    """The list's filters as keyword arguments of selectors.filter_contacts (shared with export:
    it exports what you see)."""
    filters, _ = current_filters(request)
    return {"query": filters.query, "tag_id": filters.tag_id, "consent": filters.consent,
            "consent_channel": filters.consent_channel, "channel": filters.channel}


def list_querystring(request) -> str:
    """The list's query string to carry on (pages, export): the search token or non-PHI filters only."""
    filters, token = current_filters(request)
    return _list_querystring(filters, token)


def _list_querystring(filters: ContactFilters, token: str) -> str:
    if token:
        return urlencode({SEARCH_TOKEN: token})
    params = {"tag": filters.tag_id or "", "consent": filters.consent, "channel": filters.channel,
              # the consent channel only means something with a consent filter
              "consent_channel": filters.consent_channel if filters.consent else ""}
    return urlencode({k: v for k, v in params.items() if v})


@login_required
def contact_list(request):
    _actor(request, Perm.CONTACTS_VIEW)
    filters, token = current_filters(request)
    expired = bool(request.GET.get(SEARCH_TOKEN)) and not token
    if expired:
        messages.info(request, "That search has expired — search again.")
    listing = selectors.contact_list_page(actor=request.actor, organization=request.organization,
                                          filters=filters, page_number=request.GET.get("page"),
                                          page_size=PAGE_SIZE)
    return render(request, "contacts/list.html", {
        "page": listing.page, "rows": listing.rows, "query": filters.query, "filters": filters,
        "all_tags": selectors.tags(actor=request.actor), "channels": Channel.choices,
        "querystring": _list_querystring(filters, token),
    })


@login_required
@require_POST
def contact_search(request):
    """The search (and filter) form: keep it server-side, show the list under its token."""
    _actor(request, Perm.CONTACTS_VIEW)
    filters = _filters_from(request.POST, with_query=True)
    if not filters.query:
        # Nothing typed: the remaining filters are not PHI and may be linked to plainly.
        query = _list_querystring(filters, "")
        return redirect(f"{reverse('contacts:list')}?{query}" if query else "contacts:list")
    token = searches.save_search(actor=request.actor, filters=filters)
    return redirect(f"{reverse('contacts:list')}?{urlencode({SEARCH_TOKEN: token})}")


@login_required
def contact_detail(request, contact_id: int):
    contact = selectors.get_contact(actor=_actor(request), contact_id=contact_id)
    defs = custom_fields.definitions(actor=request.actor)
    custom = [(defs[k].label if k in defs else k, v) for k, v in (contact.custom_values or {}).items()]
    return render(request, "contacts/detail.html", {
        "contact": contact, "custom": custom,
        "tags": selectors.tags_by_contact(actor=request.actor, contact_ids=[contact.pk]).get(contact.pk, []),
        "consent": [(label, selectors.consent_state(contact, ch)) for ch, label in Channel.choices],
    })


def _actor(request, perm: Perm | None = None):
    """The request's actor; a page-level 403 when it may not do ``perm`` (the service checks again)."""
    if request.actor is None:
        raise PermissionDenied("You are not a member of an organisation — ask its owner for an invitation.")
    if perm is not None:
        request.actor.require(perm)  # a forbidden page is a 403 before the form is even built
    return request.actor


def _form(request, contact=None) -> ContactForm:
    fields = list(custom_fields.definitions(actor=request.actor).values())
    region = request.organization.default_region
    if request.method == "POST":
        return ContactForm(request.POST, custom_fields=fields, region=region)
    initial = {}
    if contact is not None:
        initial = {k: getattr(contact, k) for k in services.CONTACT_FIELDS}
        initial.update({f"custom_{k}": v for k, v in (contact.custom_values or {}).items()})
    return ContactForm(initial=initial, custom_fields=fields, region=region)


def _save(request, form: ContactForm, contact=None):
    try:
        if contact is None:
            return services.create_contact(actor=request.actor, organization=request.organization,
                                           custom_values=form.custom_values(), **form.contact_values())
        return services.update_contact(actor=request.actor, contact=contact,
                                       custom_values=form.custom_values(), **form.contact_values())
    except services.DuplicatePhone as exc:
        form.add_error("phone", exc.errors["phone"])
        form.existing_contact_id = exc.existing_id
    except services.InvalidContact as exc:
        for field, message in exc.errors.items():
            form.add_error(field if field in form.fields else None, message)
    except ValueError as exc:
        form.add_error(None, str(exc))
    return None


@login_required
def contact_create(request):
    _actor(request, Perm.CONTACTS_EDIT)
    form = _form(request)
    if request.method == "POST" and form.is_valid():
        contact = _save(request, form)
        if contact is not None:
            messages.success(request, "Contact added.")
            return redirect("contacts:detail", contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": None,
                                                  "existing_id": getattr(form, "existing_contact_id", None)})


@login_required
def contact_edit(request, contact_id: int):
    _actor(request, Perm.CONTACTS_EDIT)
    contact = selectors.get_contact(actor=request.actor, contact_id=contact_id)
    form = _form(request, contact)
    if request.method == "POST" and form.is_valid() and _save(request, form, contact) is not None:
        messages.success(request, "Contact saved.")
        return redirect("contacts:detail", contact.pk)
    return render(request, "contacts/form.html", {"form": form, "contact": contact,
                                                  "existing_id": getattr(form, "existing_contact_id", None)})


@login_required
def contact_delete(request, contact_id: int):
    _actor(request, Perm.CONTACTS_DELETE)
    contact = selectors.get_contact(actor=request.actor, contact_id=contact_id, audit_view=False)
    if request.method == "POST":
        services.delete_contact(actor=request.actor, contact=contact)
        messages.success(request, "Contact deleted.")
        return redirect("contacts:list")
    return render(request, "contacts/confirm_delete.html", {"contact": contact})


@login_required
@require_POST
def contact_consent(request, contact_id: int):
    _actor(request, Perm.CONTACTS_EDIT)
    contact = selectors.get_contact(actor=request.actor, contact_id=contact_id, audit_view=False)
    channel, state = request.POST.get("channel"), request.POST.get("opted_in")
    if channel not in CHANNELS or state not in {"yes", "no"}:
        messages.error(request, "Choose a channel and whether the patient opted in or out.")
    else:
        services.set_consent(actor=request.actor, contact=contact, channel=channel, opted_in=state == "yes",
                             source="staff")
        messages.success(request, "Consent recorded.")
    return redirect("contacts:detail", contact.pk)


@login_required
@require_POST
def bulk_tag(request):
    _actor(request, Perm.CONTACTS_EDIT)
    ids = [int(i) for i in request.POST.getlist("contact") if i.isdigit()]
    action = request.POST.get("action")
    if not ids:
        messages.error(request, "Tick at least one contact first.")
    elif action not in {"tag", "untag"}:
        messages.error(request, "Choose whether to add or remove the tag.")
    else:
        change = tags.untag_contacts if action == "untag" else tags.tag_contacts
        try:
            count = change(actor=request.actor, contact_ids=ids, tag_name=request.POST.get("tag_name", ""))
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            verb = "Removed the tag from" if action == "untag" else "Tagged"
            messages.success(request, f"{verb} {count} contact{'s' if count != 1 else ''}.")
    back = request.POST.get("next", "")
    # `next` is the list's own query string (token or non-PHI filters, page): appended to our path,
    # never a host.
    return redirect(f"{reverse('contacts:list')}?{back}" if back else "contacts:list")
