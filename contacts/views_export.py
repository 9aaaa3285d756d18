"""Export: choose columns and format; exports the contacts the list shows (its filters) or the ticked ones."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.roles import Perm
from contacts import exporting, selectors
from contacts.models import CustomField
from contacts.views import list_filters, list_querystring


@login_required
def export(request):
    if request.actor is None:
        raise PermissionDenied("Choose an organisation first.")
    request.actor.require(Perm.CONTACTS_EXPORT)  # the page too, not only the download
    columns_available = exporting.available_columns(list(CustomField.objects.all()))
    source = request.POST if request.method == "POST" else request.GET
    filters = list_filters(request)
    ids = [int(i) for i in source.getlist("contact") if i.isdigit()]
    if request.method == "POST" and request.POST.get("step") != "choose":  # "choose": ticked on the list
        columns = [c for c in request.POST.getlist("columns") if c in dict(columns_available)]
        queryset = selectors.filter_contacts(actor=request.actor, organization=request.organization,
                                             **filters)
        if ids:
            queryset = queryset.filter(pk__in=ids)
        file_format = request.POST.get("format", "csv")
        try:
            content_type, body = exporting.export_contacts(actor=request.actor, queryset=queryset,
                                                           columns=columns, file_format=file_format)
        except ValueError as exc:
            messages.error(request, str(exc))
        else:
            response = StreamingHttpResponse(body, content_type=content_type)
            stamp = timezone.now().strftime("%Y%m%d-%H%M")
            response["Content-Disposition"] = f'attachment; filename="contacts-{stamp}.{file_format}"'
            response["Cache-Control"] = "no-store"
            return response
    count = selectors.filter_contacts(actor=request.actor, organization=request.organization, **filters)
    count = count.filter(pk__in=ids).count() if ids else count.count()
    return render(request, "contacts/export.html", {
        "columns": columns_available, "defaults": exporting.DEFAULT_COLUMNS, "count": count, "ids": ids,
        "querystring": list_querystring(request),
    })
