from messaging.models import Channel
from tests.tenancy import row_maker


@row_maker("messaging.channel")
def channel(org):
    return Channel.objects.create(organization=org, name="Front desk", provider="simulator",
                                  address="+15005550006", webhook_secret="s3cret")
