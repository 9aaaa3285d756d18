"""Hook points through which apps above accounts take part in organisation and member changes.

accounts sits at the bottom of the stack and never imports billing. billing registers its
functions from ``billing/apps.py`` ``ready()``:

- ``on_organization_created(fn)``: ``fn(organization=...)`` runs inside the transaction that
  creates the organisation (billing starts its trial); an exception rolls the creation back.
- ``on_seats_requested(fn)``: ``fn(organization_id=..., adding=...)`` runs before an invitation
  is sent and may raise a ``ValidationError`` that says why not (billing's user cap).
"""

from __future__ import annotations

from collections.abc import Callable

_created: list[Callable[..., None]] = []
_seats: list[Callable[..., None]] = []


def on_organization_created(fn: Callable[..., None]) -> None:
    if fn not in _created:
        _created.append(fn)


def on_seats_requested(fn: Callable[..., None]) -> None:
    if fn not in _seats:
        _seats.append(fn)


def organization_created(organization) -> None:
    """Tell the registered apps that ``organization`` was just created (same transaction)."""
    for fn in _created:
        fn(organization=organization)


def seats_requested(*, organization_id: int, adding: int = 1) -> None:
    """Ask the registered apps whether ``adding`` more members fit; they raise when not."""
    for fn in _seats:
        fn(organization_id=organization_id, adding=adding)
