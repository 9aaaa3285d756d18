"""Refusals a person can act on: ``message`` says what happened and what to do next (no PHI)."""

from __future__ import annotations


class CampaignRefused(Exception):
    """A campaign or template operation CareRelay will not do; ``code`` is stable for doors."""

    def __init__(self, code: str, message: str, **numbers: int) -> None:
        super().__init__(message)
        self.code, self.message, self.numbers = code, message, numbers


class IllegalTransition(CampaignRefused):
    """A lifecycle change the campaign's current state does not allow."""
