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
