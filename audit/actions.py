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
    # 380-399: the batch outbound path
    MESSAGES_QUEUED = 380  # one event per stored chunk of a queue_messages batch (counts, id range)

    # 400-499: campaigns and intake
    CAMPAIGN_CREATED = 400
    CAMPAIGN_SCHEDULED = 401
    INTAKE_SUBMISSION_VIEWED = 410
    EXPORT_DOWNLOADED = 420

    # 500-599: billing
    PLAN_CHANGED = 500

    # 900-999: platform and key management
    MASTER_KEY_ROTATED = 900
    DATA_KEY_ROTATED = 901
    ORGANIZATION_KEYS_DESTROYED = 902
    PLATFORM_VIEW_ENTERED = 910

    @property
    def label(self) -> str:
        return self.name.replace("_", " ").capitalize()
