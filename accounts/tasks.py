"""Accounts' background work: e-mails whose sending must not show in a public page's timing.

Tasks take a user id only (never an address or a token): the token is made in the task.
They are not tenant-scoped (a user is not a tenant row), so they use a plain Celery task.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="accounts.send_password_reset_email", acks_late=True)
def send_password_reset_email(*, user_id: int) -> None:
    """E-mail a reset link to user `user_id` (a retry sends a fresh link; older ones stay valid)."""
    from accounts.password_reset import send_reset_link

    send_reset_link(user_id=user_id)


@shared_task(name="accounts.send_signup_attempt_notice", acks_late=True)
def send_signup_attempt_notice(*, user_id: int) -> None:
    """Tell user `user_id` that someone tried to sign up with their address (instead of a new account)."""
    from accounts.signup import send_signup_attempt_notice as send_notice

    send_notice(user_id=user_id)


@shared_task(name="accounts.send_pending_emails", acks_late=True)
def send_pending_emails(*, limit: int = 500) -> int:
    """The sweeper (Celery beat, every minute): send the account e-mails that were kept while the
    broker was unreachable (accounts.outbox). Each row is deleted in the transaction that sends
    it, so two sweepers never send one twice; returns how many were sent."""
    from django.db import transaction

    from accounts.models import PendingEmail

    senders = {task.name: task for task in (send_password_reset_email, send_signup_attempt_notice)}
    sent = 0
    for _ in range(limit):
        with transaction.atomic():
            row = PendingEmail.objects.select_for_update(skip_locked=True).order_by("pk").first()
            if row is None:
                break
            task = senders.get(row.task_name)
            if task is not None:
                task.run(user_id=row.user_id)  # in this worker: the sweeper is the queued work
                sent += 1
            row.delete()
    return sent


@shared_task(name="accounts.purge_retired_data_keys", acks_late=True)
def purge_retired_data_keys() -> int:
    """Delete retired data keys past the key cache's lifetime that no row needs (Celery beat, hourly)."""
    from accounts.actor import Actor
    from accounts.key_management import purge_retired_data_keys as purge

    return len(purge(actor=Actor.platform("key-purger")).deleted_key_ids)
