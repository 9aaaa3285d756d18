"""Partner-API upkeep."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.purge_idempotency_keys")
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Keys past their retention (every organisation's)."""
    from django_scopes import scopes_disabled

    from accounts.partner_api.idempotency import purge_expired

    with scopes_disabled():  # ops clean-up across organisations: deletes by age only
        return purge_expired()
