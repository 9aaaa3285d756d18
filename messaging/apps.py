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
        from messaging import partner_events
        from messaging.inbound import register_inbound_handler

        register_inbound_handler(partner_events.announce_inbound_event)
