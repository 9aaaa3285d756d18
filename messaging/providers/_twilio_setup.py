"""What Twilio channels need to be set up: credentials, sender rules, console steps (PROVIDERS.md §1).

Twilio serves two kinds from one account: SMS/MMS, and WhatsApp through Twilio (``whatsapp:``
senders). Both use the same credentials and the same webhook; the sender is an E.164 number or
a Messaging Service SID (``MG…``, which picks the sender itself).
"""

from __future__ import annotations

from messaging.providers.declaration import (
    SMS,
    WHATSAPP,
    AddressRule,
    CredentialField,
    KindOption,
    ProviderDeclaration,
    WebhookUrlSpec,
    e164_or_prefixed_id,
    pattern,
)

_SENDER = e164_or_prefixed_id("MG", 34)

DECLARATION = ProviderDeclaration(
    label="Twilio",
    summary="SMS/MMS from a Twilio number or Messaging Service, or WhatsApp through Twilio.",
    kinds=(
        KindOption(
            SMS,
            "SMS / MMS",
            AddressRule("Sender number or Messaging Service SID",
                        "E.164 (+14155550100) or MG… for a Messaging Service", _SENDER,
                        placeholder="+14155550100"),
        ),
        KindOption(
            WHATSAPP,
            "WhatsApp through Twilio",
            AddressRule("Sender number or Messaging Service SID",
                        "The number registered as a WhatsApp sender in Twilio (E.164), or MG…",
                        _SENDER, placeholder="+14155550100"),
            instructions=(
                "Messaging → Senders → WhatsApp senders: the number must be an approved WhatsApp "
                "sender; templates are Content templates (HX…) approved for WhatsApp.",
            ),
        ),
    ),
    credentials=(
        CredentialField("account_sid", "Account SID", secret=False, help_text="Starts with AC…",
                        validate=pattern(r"AC[0-9a-fA-F]{32}",
                                         "The Account SID is AC followed by 32 hex characters: "
                                         "copy it from the Twilio Console home page.")),
        # Twilio signs its webhooks with the auth token: it doubles as the webhook secret.
        CredentialField("auth_token", "Auth token", secret=True, verifies_webhooks=True,
                        help_text="Console home page → Account Info → Auth Token"),
    ),
    webhook_urls=(
        WebhookUrlSpec("“A message comes in” webhook (HTTP POST)",
                       "Phone number → Messaging configuration, or Messaging Service → Integration.",
                       purposes=("inbound",)),
        WebhookUrlSpec("Status callback URL",
                       "Sent with every message automatically; set it on a Messaging Service too.",
                       purposes=("status",)),
    ),
    instructions=(
        "Copy the Account SID and Auth Token from the Twilio Console home page.",
        "Paste the channel's webhook URL (shown once the channel is saved) into the number's (or "
        "Messaging Service's) messaging configuration, method HTTP POST: Twilio signs each request "
        "with the Auth Token.",
    ),
    order=10,
)
