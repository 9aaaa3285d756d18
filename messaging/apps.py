from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Messaging"

    def ready(self) -> None:
        # accounts sits below messaging: it offers a hook and we register the real sender.
        from accounts import otp_delivery
        from messaging.otp import send_sign_in_code

        otp_delivery.register_sender(send_sign_in_code)
        # Connects the signals that drop cached webhook channels when a channel changes.
        import messaging.channel_cache  # noqa: F401

        # Registers message.received / message.status for partner webhooks; inbound messages
        # are announced from the inbound task (through messaging's own hook point).
        from accounts.event_webhooks.models import WebhookEndpoint
        from messaging import partner_events
        from messaging.inbound import register_inbound_handler

        register_inbound_handler(partner_events.announce_inbound_event,
                                 wants=partner_events.wants_inbound_events, watch=[WebhookEndpoint])
        # billing sits below messaging: it counts active channels against the plan through this.
        from billing.usage_counts import CHANNELS, register_counter

        register_counter(CHANNELS, _count_active_channels)


def _count_active_channels(organization_id: int, kind: str | None = None) -> int:
    from django_scopes import scopes_disabled

    from messaging.models import Channel

    with scopes_disabled():  # an explicit organisation filter; billing asks for one org by id
        channels = Channel.objects.filter(organization_id=organization_id, is_active=True)
        return (channels.filter(kind=kind) if kind else channels).count()
