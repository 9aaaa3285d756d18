"""STOP / START / HELP keywords (the CTIA list), recognised before anything else sees a message.

A keyword is the whole message, trimmed and case-insensitive: "stop" and " STOP " are
keywords, "please stop texting me" is not (staff see it and can opt the patient out by
hand). A WhatsApp button or list reply counts when its id or its title is a keyword.
"""

from __future__ import annotations

import enum

from messaging.providers import InboundMessage


class Keyword(enum.StrEnum):
    """What a keyword asks for."""

    STOP = "stop"
    START = "start"
    HELP = "help"


STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"})
START_WORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_WORDS = frozenset({"HELP", "INFO"})

_BY_WORD: dict[str, Keyword] = {
    **{word: Keyword.STOP for word in STOP_WORDS},
    **{word: Keyword.START for word in START_WORDS},
    **{word: Keyword.HELP for word in HELP_WORDS},
}


def match_keyword(text: str | None) -> Keyword | None:
    """The keyword ``text`` is, if the whole (trimmed, case-insensitive) text is one."""
    if not text:
        return None
    return _BY_WORD.get(text.strip().upper())


def keyword_of(inbound: InboundMessage) -> Keyword | None:
    """The keyword an inbound message carries: its text, or the id/title of the tapped button."""
    candidates = [inbound.body]
    if inbound.whatsapp_reply is not None:
        candidates += [inbound.whatsapp_reply.id, inbound.whatsapp_reply.title]
    for candidate in candidates:
        keyword = match_keyword(candidate)
        if keyword is not None:
            return keyword
    return None
