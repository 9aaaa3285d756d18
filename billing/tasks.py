"""billing's background work: usage and statement e-mails, and the period close for beat."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

from accounts.models import Membership
from accounts.roles import Perm, role_has
from accounts.tenancy import OrgTask


def _recipients(org_id: int, perm: Perm) -> list[str]:
    memberships = Membership.objects.filter(organization_id=org_id).select_related("user")
    return sorted({m.user.email for m in memberships if role_has(m.role, perm) and m.user.is_active})


@shared_task(base=OrgTask, name="billing.send_usage_notice", acks_late=True)
def send_usage_notice(*, org_id: int, threshold: int) -> int:
    """E-mail owners and admins that the period's included segments are ``threshold`` % used."""
    from billing.services import estimate_cost, subscription_for

    subscription = subscription_for(org_id)
    allowance = estimate_cost(organization_id=org_id, segments=0)
    body = render_to_string("billing/email/usage_notice.txt", {
        "organization": subscription.organization, "plan": subscription.plan, "threshold": threshold,
        "allowance": allowance, "url": f"{settings.PUBLIC_BASE_URL}{reverse('billing:usage')}",
    })
    recipients = _recipients(org_id, Perm.BILLING_VIEW)
    if recipients:
        send_mail(f"CareRelay: {threshold} % of this month's included messages used", body, None, recipients)
    return len(recipients)


@shared_task(base=OrgTask, name="billing.send_statement_ready", acks_late=True)
def send_statement_ready(*, org_id: int, statement_id: int) -> int:
    """E-mail the owners that a statement is ready to download."""
    from billing.models import Statement

    statement = Statement.objects.filter(pk=statement_id).first()
    if statement is None:
        return 0
    body = render_to_string("billing/email/statement_ready.txt", {
        "statement": statement, "url": f"{settings.PUBLIC_BASE_URL}{reverse('billing:usage')}",
    })
    recipients = _recipients(org_id, Perm.BILLING_MANAGE)
    if recipients:
        send_mail(f"CareRelay statement {statement.number} is ready", body, None, recipients)
    return len(recipients)


@shared_task(name="billing.close_billing_periods", acks_late=True)
def close_billing_periods() -> dict:
    """Beat: end run-out trials, close ended periods, mark overdue subscriptions (idempotent)."""
    from billing.services import close_billing_periods as close

    result = close()
    return {"trials_ended": result.trials_ended, "statements": result.statements, "past_due": result.past_due}
