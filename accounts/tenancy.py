"""Tenant scoping (django-scopes), entered in one place per door.

- web and admin: accounts.middleware.TenantScopeMiddleware
- Celery: tasks built with `OrgTask` take `org_id` and run inside that scope
- webhooks: `organization_scope(organization)` around the work for the channel the URL names
"""

from __future__ import annotations

from contextlib import contextmanager

from celery import Task
from django_scopes import ScopeError, get_scope, scope

# Models that carry no tenant scope, each with the reason. A test walks every model of our
# apps: each is scoped by organization or listed here; a model with PHI can never be listed.
TENANCY_EXEMPT: dict[str, str] = {
    "accounts.user": "a person may belong to several organisations; PHI-free staff identity",
    "accounts.organization": "the tenant itself",
    "accounts.membership": "read across organisations to find which a user may enter",
    "accounts.datakey": "wrapped keys only, fetched by id by the encryption layer",
    "audit.chainhead": "one row per audit chain; internal to audit.record",
    "accounts.pendingemail": "an account e-mail (reset link, notice) waiting for the broker: a user id and "
                             "a task name, no address, no PHI; users are not tenant rows",
    "billing.plan": "the price list every organisation reads; platform data, edited by superusers only",
}


def in_scope_of(organization_id: int) -> bool:
    """For a hand-written query: may the current scope see this organisation's rows?

    The rule the scoped managers apply, for the few hot reads written in SQL: with no scope
    active it raises ``ScopeError`` (fails closed); with scopes disabled it allows.
    """
    current = get_scope()
    if current.get("_enabled") is False:
        return True
    if "organization" not in current:
        raise ScopeError("A scope on dimension(s) organization needs to be active for this query.")
    allowed = current["organization"]
    allowed = allowed if isinstance(allowed, list | tuple | set) else [allowed]
    return any(getattr(org, "pk", org) == organization_id for org in allowed)


@contextmanager
def organization_scope(organization):
    """Enter the scope of one organisation (webhooks, management commands, tests)."""
    with scope(organization=organization):
        yield organization


class OrgTask(Task):
    """Celery task base: the task takes `org_id` and its body runs inside that tenant's scope.

    Tasks take ids, never model instances or PHI, and are acked late: a worker lost
    mid-task hands the message to another worker, so task bodies must be idempotent.
    """

    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, **kwargs):
        org_id = kwargs.get("org_id")
        if org_id is None:
            raise TypeError(f"{self.name} must be called with org_id=<organisation id>")
        # The scope filters by the id: no query for the organisation's row on every task (the
        # rows a task reads are its organisation's, or none once the organisation is gone).
        with scope(organization=int(org_id)):
            return super().__call__(*args, **kwargs)
