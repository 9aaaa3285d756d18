"""The intake bot: questionnaires a patient answers by SMS or WhatsApp, and their submissions.

Lives inside the campaigns app (outreach automation). It hears patients only through
``messaging.inbound`` (registered in ``campaigns/apps.py``) and sends only through
``campaigns.intake.outbox``; every call into contacts goes through ``campaigns.intake.patients``.
"""
