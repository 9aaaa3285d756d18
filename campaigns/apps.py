from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = "Campaigns and intake"

    def ready(self) -> None:
        # --- intake bot -------------------------------------------------------------------
        # Hears patients through messaging's hook point (messaging never imports campaigns).
        from campaigns.intake.apps import register_intake

        register_intake()
        # --- end intake bot ---------------------------------------------------------------
        # Campaign replies and STOPs (campaigns.replies), through the same hook point.
        from campaigns.replies import expects_replies, record_reply
        from messaging.inbound import register_inbound_handler

        register_inbound_handler(record_reply, wants=expects_replies)
        # Paused, cancelled or night-time for the patient when messaging is about to send.
        # Once sent, a campaign's questionnaire follows its message (campaigns.questionnaire_start).
        from campaigns.questionnaire_start import start_after_sent
        from campaigns.send_gate import campaign_send_gate
        from messaging.models import Message
        from messaging.outbound_gates import register_outbound_gate

        register_outbound_gate(Message.Origin.CAMPAIGN, campaign_send_gate, after_sent=start_after_sent)
        # campaign.completed and intake.completed for partner webhooks.
        import campaigns.partner_events  # noqa: F401
