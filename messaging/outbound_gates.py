"""The hook through which higher apps hold or withdraw their queued messages at send time.

messaging sits below campaigns and never imports it. A message is queued well before it goes
out when the provider is down (retries with backoff for up to an hour) or the channel's rate is
spoken for, and by then what the sender wanted may have changed: its campaign was paused or
cancelled, or its patient's sending window closed. A higher app registers a gate for its
messages' origin in its ``AppConfig.ready()``::

    from messaging.outbound_gates import register_outbound_gate
    register_outbound_gate(Message.Origin.CAMPAIGN, campaign_send_gate)

The dispatcher asks the gate once per batch, just before claiming the messages (no provider
call has been made). The gate answers, per message id it has a view on: ``Hold(until)`` — not
now, keep it queued (it comes back at ``until``) — ``Withdraw(code, text)`` — never: the message
fails with that code and staff-facing text (no PHI) — or ``Notify()``: send it, and tell the
origin's ``after_sent`` once the provider accepted it (once per batch, after the batch's locks
are released): what should follow a message only once it is out (a campaign's questionnaire,
its first question). Messages it does not name just go.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Hold:
    """Not now: the message stays queued and is offered again at ``until`` (aware, UTC)."""

    until: datetime.datetime


@dataclass(frozen=True)
class Withdraw:
    """Never: the message fails with ``code`` and ``text`` (what staff read; no PHI)."""

    code: str
    text: str


@dataclass(frozen=True)
class Notify:
    """Send it, and hand it to the origin's ``after_sent`` once the provider accepted it."""


Verdict = Hold | Withdraw | Notify
# Given the batch's messages of one origin (with ``contact`` loaded), the verdicts by message id.
OutboundGate = Callable[[list], dict[int, Verdict]]
_gates: dict[str, OutboundGate] = {}


# Given the batch's sent messages of one origin.
AfterSent = Callable[[list], None]
_after_sent: dict[str, AfterSent] = {}


def register_outbound_gate(origin: str, gate: OutboundGate, *, after_sent: AfterSent | None = None) -> None:
    """Make ``gate`` the say on messages of ``origin`` (one gate per origin; the last one wins)."""
    _gates[str(origin)] = gate
    if after_sent is not None:
        _after_sent[str(origin)] = after_sent


def _by_origin(messages: Iterable, listeners: dict) -> dict[str, list]:
    """``messages`` grouped by origin, for the origins that have a listener in ``listeners``."""
    groups: dict[str, list] = {}
    for message in messages:
        if message.origin in listeners:
            groups.setdefault(message.origin, []).append(message)
    return groups


def verdicts(messages: Iterable) -> dict[int, Verdict]:
    """The gates' verdicts on ``messages``: one call per origin that has a gate."""
    found: dict[int, Verdict] = {}
    for origin, group in _by_origin(messages, _gates).items():
        found.update(_gates[origin](group))
    return found


def sent(messages: Iterable) -> None:
    """Tell each origin's ``after_sent`` which of its ``Notify`` messages went out. A failing
    listener is logged (ids only) and never undoes or repeats the sends."""
    for origin, group in _by_origin(messages, _after_sent).items():
        try:
            _after_sent[origin](group)
        except Exception:
            logger.exception("after-sent listener of %s messages failed (message ids %s…)", origin,
                             [m.pk for m in group[:5]])
