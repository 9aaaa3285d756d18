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
# Words that are a START only from someone opted out: to anyone else "yes" is an answer (a
# yes/no question of the intake bot, a reply to staff), never a resubscription to confirm.
START_ONLY_WHEN_OPTED_OUT = frozenset({"YES"})
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


def keyword_of(inbound: InboundMessage, *, opted_out: bool = True) -> Keyword | None:
    """The keyword an inbound message carries: its text, or the id/title of the tapped button.

    ``opted_out``: whether the sender is opted out of this channel; "YES" from someone who is
    not is an answer, not a START.
    """
    candidates = [inbound.body]
    if inbound.whatsapp_reply is not None:
        candidates += [inbound.whatsapp_reply.id, inbound.whatsapp_reply.title]
    for candidate in candidates:
        keyword = match_keyword(candidate)
        if keyword is Keyword.START and not opted_out and \
                (candidate or "").strip().upper() in START_ONLY_WHEN_OPTED_OUT:
            continue
        if keyword is not None:
            return keyword
    return None
