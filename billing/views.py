"""Billing pages: the public pricing page, usage for owners and admins, plan and statements
for owners. Thin: services and selectors check permissions, views render their answers."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages as flash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Perm
from billing import selectors
from billing.chart import usage_chart
from billing.exceptions import PlanChangeRefused
from billing.files import statement_csv, statement_pdf
from billing.services import change_plan


@require_GET
def pricing(request: HttpRequest) -> HttpResponse:
    """Every active plan side by side; open to everyone, signed in or not."""
    plans = selectors.active_plans()
    trial_plan = next((p for p in plans if p.code == settings.BILLING_TRIAL_PLAN and p.trial_days), None)
    return render(request, "billing/pricing.html", {"plans": plans, "trial_plan": trial_plan,
                                                    "sales_email": settings.BILLING_SALES_EMAIL})


def _actor(request: HttpRequest):
    actor = getattr(request, "actor", None)
    if actor is None:
        raise PermissionDenied("Choose an organisation first.")
    return actor


@login_required
def usage(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    summary = selectors.usage_summary(actor=actor)
    can_manage = actor.can(Perm.BILLING_MANAGE)
    return render(request, "billing/usage.html", {
        "summary": summary, "chart": usage_chart(summary), "origins": selectors.ORIGINS,
        "can_manage": can_manage, "plans": selectors.active_plans() if can_manage else [],
        "statements": selectors.statements(actor=actor) if can_manage else [],
    })


@login_required
@require_POST
def plan_change(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    try:
        subscription = change_plan(actor=actor, plan_code=request.POST.get("plan", ""))
    except PlanChangeRefused as refused:
        flash.error(request, " ".join([refused.message, *refused.reasons]))
    else:
        flash.success(request, f"Your organisation is now on {subscription.plan.name}."
                      if subscription.status != subscription.Status.TRIAL else
                      f"{subscription.plan.name} it is: your trial continues on it, and so does your "
                      "subscription after the trial.")
    return redirect("billing:usage")


@login_required
@require_GET
def usage_export(request: HttpRequest) -> HttpResponse:
    body = selectors.usage_csv(actor=_actor(request))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="carerelay-usage.csv"'
    return response


@login_required
@require_GET
def statement_download(request: HttpRequest, statement_id: int, file_format: str) -> HttpResponse:
    if file_format not in ("pdf", "csv"):
        raise Http404("Statements download as .pdf or .csv.")
    statement, lines = selectors.statement_for_download(actor=_actor(request), statement_id=statement_id,
                                                        file_format=file_format)
    name = request.organization.name
    if file_format == "pdf":
        response = HttpResponse(statement_pdf(statement, lines, name), content_type="application/pdf")
    else:
        response = HttpResponse(statement_csv(statement, lines, name), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{statement.number}.{file_format}"'
    return response
