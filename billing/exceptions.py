"""The refusal every quota check raises: machine-readable for the API, a sentence for people."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class QuotaExceeded(ValidationError):
    """An action the organisation's plan does not allow (now).

    ``code`` is stable and machine-readable (``segments_exhausted``, ``contact_cap``, …);
    ``message`` gives the numbers and says what to do next. ``needed``/``included``/``used``/
    ``remaining`` are counts (segments, contacts, channels or users, per ``code``).
    The API answers it as HTTP 402 with ``as_dict()`` as the body; on the web,
    ``billing.middleware`` turns an uncaught one into a page that says what to do.

    It is a ``ValidationError`` so that forms in apps below billing (accounts' invitation
    form) show the sentence beside the field without importing billing.
    """

    http_status = 402

    def __init__(self, code: str, message: str, *, needed: int = 0, included: int | None = None,
                 used: int = 0, remaining: int = 0, upgrade: bool = True) -> None:
        super().__init__(message, code=code)
        self.needed = needed
        self.included = included
        self.used = used
        self.remaining = remaining
        self.upgrade = upgrade

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "needed": self.needed,
                "included": self.included, "used": self.used, "remaining": self.remaining}

    def __str__(self) -> str:
        return self.message


class PlanChangeRefused(Exception):
    """A plan change that cannot be made (the organisation does not fit, or the plan is gone)."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reasons = reasons or []
