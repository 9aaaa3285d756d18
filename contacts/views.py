"""Contacts web UI: thin doors onto services and selectors."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import render

from accounts.roles import Perm, require
from contacts import selectors


@login_required
def contact_list(request):
    require(request.membership, Perm.CONTACTS_VIEW)
    query = request.GET.get("q", "")
    contacts = selectors.search_contacts(request.organization, query).order_by("-created_at", "-pk")
    page = Paginator(contacts, 50).get_page(request.GET.get("page"))
    return render(request, "contacts/list.html", {"page": page, "query": query})


@login_required
def contact_detail(request, contact_id: int):
    require(request.membership, Perm.CONTACTS_VIEW)
    contact = selectors.get_contact(contact_id=contact_id, actor=request.user)
    return render(request, "contacts/detail.html", {"contact": contact})
