"""Every auditable action, one enum. Numbered ranges per area so codes never collide.

Values are stored in the database: never renumber or reuse one.
"""

from enum import IntEnum, unique


@unique
class AuditAction(IntEnum):
    # 100-199: accounts and access
    LOGIN_SUCCEEDED = 100
    LOGIN_FAILED = 101
    LOGOUT = 102
    ACCOUNT_LOCKED = 103
    ACCOUNT_UNLOCKED = 104
    TWO_FACTOR_ADDED = 110
    TWO_FACTOR_REMOVED = 111
    PASSWORD_CHANGED = 120
    PASSWORD_RESET = 121
    SIGNED_UP = 130
    EMAIL_VERIFIED = 131
    INVITATION_SENT = 140
    INVITATION_ACCEPTED = 141
    INVITATION_REVOKED = 142
    ROLE_CHANGED = 150
    MEMBER_REMOVED = 151
    ORGANIZATION_CREATED = 160
    ORGANIZATION_SETTINGS_CHANGED = 161
    SESSIONS_REVOKED = 170
    API_KEY_CREATED = 180
    API_KEY_REVOKED = 181
    WEBHOOK_ENDPOINT_CREATED = 182
    WEBHOOK_ENDPOINT_CHANGED = 183
    WEBHOOK_ENDPOINT_DISABLED = 184

    # 200-299: contacts (patients)
    CONTACT_VIEWED = 200
    CONTACT_CREATED = 201
    CONTACT_UPDATED = 202
    CONTACT_DELETED = 203
    CONTACTS_IMPORTED = 210
    CONTACTS_EXPORTED = 211
    CONSENT_CHANGED = 220
    CUSTOM_FIELD_CHANGED = 230
    CONTACTS_TAGGED = 240
    # 250-279: contacts (issue 14: list reads, tags, custom fields)
    CONTACTS_LIST_VIEWED = 250
    TAG_CREATED = 251
    TAG_RENAMED = 252
    TAG_DELETED = 253

    # 280-299: contact import and export. CONTACTS_EXPORTED (211) records an export's start;
    # COMPLETED follows once its last byte went out, INTERRUPTED when it failed or was cut off.
    CONTACTS_EXPORT_COMPLETED = 280
    CONTACTS_EXPORT_INTERRUPTED = 281
    # An import whose runner died (stale heartbeat) continued after its last committed chunk.
    CONTACTS_IMPORT_RESUMED = 282

    # 300-399: messaging
    MESSAGE_SENT = 300
    MESSAGE_RECEIVED = 301
    CONVERSATION_VIEWED = 310
    CONVERSATION_ASSIGNED = 311
    CONVERSATION_CLOSED = 312
    CONVERSATION_REOPENED = 313
    CHANNEL_CREATED = 320
    CHANNEL_UPDATED = 321
    CHANNEL_CREDENTIALS_VIEWED = 322
    SIMULATOR_VIEWED = 330
    # 340-369: inbox reads, canned responses, WhatsApp templates
    INBOX_LISTED = 340
    SIMULATOR_SUGGESTIONS_LISTED = 341
    CANNED_RESPONSE_CREATED = 342
    CANNED_RESPONSE_UPDATED = 343
    CANNED_RESPONSE_DELETED = 344
    WHATSAPP_TEMPLATE_CREATED = 345
    WHATSAPP_TEMPLATE_UPDATED = 346
    WHATSAPP_TEMPLATE_DELETED = 347

    # 370-379: channel set-up (providers)
    CHANNEL_WEBHOOK_SECRET_ROTATED = 370
    CHANNEL_SWITCHED_OFF = 371

    # 380-399: the batch outbound path
    MESSAGES_QUEUED = 380  # one event per stored chunk of a queue_messages batch (counts, id range)

    # 400-499: campaigns and intake
    CAMPAIGN_CREATED = 400
    CAMPAIGN_SCHEDULED = 401
    CAMPAIGN_UPDATED = 402
    CAMPAIGN_STARTED = 403
    CAMPAIGN_PAUSED = 404
    CAMPAIGN_RESUMED = 405
    CAMPAIGN_CANCELLED = 406
    CAMPAIGN_COMPLETED = 407
    CAMPAIGN_PREVIEWED = 408
    CAMPAIGN_AUDIENCE_COUNTED = 409
    INTAKE_SUBMISSION_VIEWED = 410
    EXPORT_DOWNLOADED = 420
    CAMPAIGN_UNSCHEDULED = 430
    CAMPAIGN_DELETED = 431
    CAMPAIGN_AUDIENCE_UPLOADED = 432
    CAMPAIGN_RECIPIENTS_CREATED = 433
    MESSAGE_TEMPLATE_CREATED = 440
    MESSAGE_TEMPLATE_UPDATED = 441
    MESSAGE_TEMPLATE_DELETED = 442
    CAMPAIGN_SETTINGS_CHANGED = 450
    # 480-489: campaign dispatch and results
    CAMPAIGN_RECIPIENTS_VIEWED = 480  # the per-recipient results list (names, numbers: PHI)
    CAMPAIGN_RECIPIENTS_EXPORTED = 481  # the per-recipient CSV/XLSX export, on completion
    CAMPAIGN_DISPATCH_RESUMED = 482  # a running campaign whose dispatcher went quiet was handed on

    # 500-599: billing
    PLAN_CHANGED = 500

    # 900-999: platform and key management
    MASTER_KEY_ROTATED = 900
    DATA_KEY_ROTATED = 901
    ORGANIZATION_KEYS_DESTROYED = 902
    DATA_KEY_PURGED = 903
    PLATFORM_VIEW_ENTERED = 910

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()
