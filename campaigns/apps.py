from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns and intake"

    def ready(self) -> None:
        from campaigns.replies import record_reply
        from messaging.inbound import register_inbound_handler

        register_inbound_handler(record_reply)
