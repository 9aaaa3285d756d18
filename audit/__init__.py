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


def record_many(entries, *, organization, actor=None):
    """Record several events of one organisation under one chain-head lock (see
    audit.services.record_many); ``entries`` are ``audit.AuditEntry`` values."""
    from audit.services import record_many as record_many_events

    return record_many_events(entries, organization=organization, actor=actor)


def deferred():
    """Append the block's events when it ends, the chain locked last (audit.services.deferred)."""
    from audit.services import deferred as deferred_appends

    return deferred_appends()


def __getattr__(name):
    # AuditEntry lives with the services (models import); loaded on first use like record().
    if name == "AuditEntry":
        from audit.services import AuditEntry

        return AuditEntry
    raise AttributeError(name)


__all__ = ["AuditAction", "AuditEntry", "deferred", "record", "record_many"]
