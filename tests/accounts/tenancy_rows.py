from datetime import timedelta

from django.utils import timezone

from accounts.invitations import hash_token
from accounts.models import Invitation
from tests.tenancy import row_maker


@row_maker("accounts.invitation")
def invitation(org):
    return Invitation.objects.create(
        organization=org, email=f"invitee@{org.slug}.test", role="staff",
        token_hash=hash_token(f"token-for-{org.pk}"), expires_at=timezone.now() + timedelta(hours=72))


@row_maker("accounts.apikey")
def api_key(org):
    from accounts.api_keys import ApiKey

    return ApiKey.objects.create_key(organization=org, name="Partner", scopes=["contacts:read"])[0]


@row_maker("accounts.idempotentrequest")
def idempotent_request(org):
    from accounts.api_keys import IdempotentRequest

    return IdempotentRequest.objects.create(organization=org, api_key=api_key(org), key=f"k-{org.pk}",
                                            fingerprint="0" * 64)


@row_maker("accounts.webhookendpoint")
def webhook_endpoint(org):
    from accounts.event_webhooks.models import WebhookEndpoint

    return WebhookEndpoint.objects.create(organization=org, url="https://partner.example/hook",
                                          event_types=["message.received"], secret="whsec_" + "A" * 43)


@row_maker("accounts.webhookdelivery")
def webhook_delivery(org):
    from accounts.event_webhooks.models import WebhookDelivery

    return WebhookDelivery.objects.create(organization=org, endpoint=webhook_endpoint(org),
                                          event_id=f"msg_{org.pk}", event_type="message.received",
                                          payload={"data": {}})
