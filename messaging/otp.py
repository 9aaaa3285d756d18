"""Sign-in codes by SMS or WhatsApp, sent through the user's organisation's channel.

Registered with ``accounts.otp_delivery`` in ``MessagingConfig.ready()``. The code is a
message body like any other: encrypted at rest, never logged, never a Celery argument
(the dispatch task receives the message id).
"""

from __future__ import annotations

from accounts.actor import Actor
from accounts.models import Membership
from accounts.otp_delivery import OTPDeliveryUnavailable
from accounts.tenancy import organization_scope
from messaging.models import Channel, Message
from messaging.services.outbound import SendRefused, send_system_message


def sign_in_code_body(token: str) -> str:
    """The text of a sign-in code message."""
    return f"Your CareRelay sign-in code is {token}. Never share it: CareRelay staff will never ask for it."


def channel_for_codes(user, kind: str) -> Channel | None:
    """The default channel of ``kind`` of the user's first organisation that has one.

    An active channel marked default wins; otherwise the organisation's first active channel
    of that kind.
    """
    memberships = (Membership.objects.filter(user=user, organization__is_active=True)
                   .select_related("organization").order_by("created_at", "pk"))
    for membership in memberships:
        with organization_scope(membership.organization):
            channel = (Channel.objects.filter(kind=kind, is_active=True).select_related("organization")
                       .order_by("-is_default", "pk").first())
        if channel is not None:
            return channel
    return None


def send_sign_in_code(*, user, phone_number: str, token: str, method: str) -> None:
    """Send ``token`` to ``phone_number`` by ``method`` ("sms" or "whatsapp").

    Raises OTPDeliveryUnavailable (what accounts expects) when no organisation of the user
    has a channel of that kind, or the message is refused (e.g. the number opted out).
    """
    kind = Channel.Kind.WHATSAPP if method == "whatsapp" else Channel.Kind.SMS
    channel = channel_for_codes(user, kind)
    if channel is None:
        raise OTPDeliveryUnavailable(
            f"None of your organisations has an active {Channel.Kind(kind).label} channel to send sign-in "
            "codes. Use an authenticator app or a backup code, or ask an admin to add a channel.")
    with organization_scope(channel.organization):
        try:
            send_system_message(channel=channel, to_phone=phone_number, body=sign_in_code_body(token),
                                origin=Message.Origin.ONE_TIME_CODE,
                                actor=Actor.system("sign-in-codes", organization_id=channel.organization_id))
        except SendRefused as refused:
            raise OTPDeliveryUnavailable(f"The sign-in code could not be sent: {refused.message}") from None
