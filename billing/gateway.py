"""Payment collection behind one small interface.

CareRelay collects by manual invoicing today: a statement is issued, the owners are told it
is ready to download (PDF or CSV), and an operator records the bank transfer. A card
processor would implement the same three methods (charge on ``collect``, confirm through its
webhook into ``record_payment``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

import audit
from audit import AuditAction
from billing.models import Statement, Subscription


class PaymentGateway(ABC):
    """What billing needs from whoever collects the money."""

    name: str = ""

    @abstractmethod
    def collect(self, statement: Statement) -> None:
        """Ask for the statement's total (inside the transaction that issued it)."""

    @abstractmethod
    def record_payment(self, statement: Statement, *, actor) -> Statement:
        """Mark the statement paid (an operator's confirmation, or a processor's webhook)."""

    def describe_payment(self, statement: Statement) -> str:
        """The sentence the statement prints under its total: how to pay."""
        return ""


class ManualInvoicingGateway(PaymentGateway):
    """Statements paid by bank transfer; owners are e-mailed when one is ready."""

    name = "manual"

    def collect(self, statement: Statement) -> None:
        from billing.tasks import send_statement_ready

        if statement.total <= 0:
            statement.status = Statement.Status.PAID
            statement.paid_at = statement.issued_at
            statement.save(update_fields=["status", "paid_at"])
            return
        org_id, statement_id = statement.organization_id, statement.pk
        transaction.on_commit(lambda: send_statement_ready.delay(org_id=org_id, statement_id=statement_id))

    @transaction.atomic
    def record_payment(self, statement: Statement, *, actor) -> Statement:
        statement = Statement.objects.select_for_update().get(pk=statement.pk)
        if statement.status == Statement.Status.PAID:
            return statement
        statement.status = Statement.Status.PAID
        statement.paid_at = timezone.now()
        statement.save(update_fields=["status", "paid_at"])
        audit.record(AuditAction.STATEMENT_PAID, organization=statement.organization, actor=actor,
                     target=statement, detail={"total": statement.total, "gateway": self.name})
        # The last overdue statement paid: sending resumes.
        overdue = Statement.objects.filter(organization_id=statement.organization_id,
                                           status=Statement.Status.OPEN,
                                           due_on__lt=timezone.now().date()).exists()
        subscription = Subscription.objects.select_for_update().get(organization_id=statement.organization_id)
        if not overdue and subscription.status == Subscription.Status.PAST_DUE:
            subscription.status = Subscription.Status.ACTIVE
            subscription.save(update_fields=["status", "updated_at"])
            audit.record(AuditAction.SUBSCRIPTION_STATUS_CHANGED, organization=statement.organization,
                         actor=actor, target=subscription, detail={"from": "past_due", "to": "active"})
        return statement

    def describe_payment(self, statement: Statement) -> str:
        return settings.BILLING_PAYMENT_INSTRUCTIONS


def gateway() -> PaymentGateway:
    """The configured gateway (``BILLING_GATEWAY``, a dotted class path)."""
    return import_string(settings.BILLING_GATEWAY)()
