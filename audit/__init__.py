"""Tamper-evident audit log: the floor of the app stack; it imports no other app.

`audit.record(...)` is the one way to write an event.
"""

from audit.actions import AuditAction


def record(action, *, organization=None, target=None, actor=None, detail=None):
    """Record one audit event (see audit.services.record_event); imported lazily for app loading."""
    from audit.services import record_event

    return record_event(
        action, organization=organization, target=target, actor=actor, detail=detail
    )


__all__ = ["AuditAction", "record"]
