"""Every write of messaging: receiving, sending, delivery receipts, inbox actions.

Modules: ``inbound`` (receive_inbound), ``outbound`` (send_* and the conversation helpers the
UI calls), ``statuses`` (apply_status_update), ``dispatch`` (deliver_message, used by the
Celery task), ``conversations`` (assign/close/reopen/mark read), ``canned`` (canned
responses) and ``templates`` (WhatsApp templates).
"""
