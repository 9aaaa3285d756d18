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
