"""Rendering questions into messages and walking a version's questions (branching, BACK).

Pure functions over a version snapshot (dicts), so the engine and tests share one truth.
"""

from __future__ import annotations

from campaigns.intake.answers import _NO, _YES, fold
from campaigns.intake.outbox import MAX_LIST_ROWS, interactive_for
from campaigns.intake.texts import text

BACK_WORDS = frozenset({"back", "atras", "volver", "anterior"})
RESTART_WORDS = frozenset({"restart", "reiniciar", "empezar de nuevo", "start over"})
SKIP_WORDS = frozenset({"skip", "omitir", "saltar", "pasar"})


def condition_met(question: dict, answers: dict) -> bool:
    """A question with a condition is asked only when the earlier answer matches it."""
    key = question.get("condition_key")
    if not key:
        return True
    if key not in answers:
        return False
    answer, wanted = answers[key], fold(str(question.get("condition_value") or ""))
    if isinstance(answer, bool):
        return answer is (wanted in _YES) if wanted in _YES | _NO else False
    if isinstance(answer, list):
        return any(fold(str(a)) == wanted for a in answer)
    return fold(str(answer)) == wanted


def next_position(questions: list[dict], start: int, answers: dict) -> int | None:
    """The first question from ``start`` on whose condition holds; None when the form is done."""
    for position in range(max(start, 0), len(questions)):
        if condition_met(questions[position], answers):
            return position
    return None


def reply_id(question: dict, option: str) -> str:
    """The id a WhatsApp button/row carries back: the question key and the option's index."""
    return f"{question['key']}:{option}"


def render_question(
    question: dict, *, language: str, interactive: bool, prefix: str = ""
) -> tuple[str, dict | None]:
    """(text body, interactive spec or None) for asking ``question``.

    With buttons or a list, the spec's body is the question alone (the options are the
    buttons), while the text body, the one stored, lists them numbered as well: the inbox
    thread and the simulator show what the patient could choose from.
    """
    lines = [prefix.strip()] if prefix.strip() else []
    lines.append(question["prompt"].strip())
    kind = question["kind"]
    spec, offered = None, []
    if kind == "yes_no":
        if interactive:
            offered = [text(language, "yes"), text(language, "no")]
            spec = interactive_for(
                [(reply_id(question, "yes"), offered[0]), (reply_id(question, "no"), offered[1])],
                "",
                text(language, "choose"),
            )
        else:
            lines.append(text(language, "yes_no_hint"))
    elif kind in ("single_choice", "multiple_choice"):
        choices = list(question.get("choices") or [])
        if kind == "single_choice" and interactive and len(choices) <= MAX_LIST_ROWS:
            offered = choices
            spec = interactive_for(
                [(reply_id(question, f"opt{i}"), c) for i, c in enumerate(choices)],
                "",
                text(language, "choose"),
            )
        else:
            lines.append(numbered(choices))
            lines.append(text(language, "numbers_hint" if kind == "single_choice" else "multi_hint"))
    tail = [] if question.get("required", True) else [text(language, "skip_hint")]
    body = "\n".join(lines + tail)
    if spec is None:
        return body, None
    spec["body"] = body
    return "\n".join([*lines, numbered(offered), *tail]), spec


def numbered(options: list[str]) -> str:
    """``1) First`` … one option a line."""
    return "\n".join(f"{i}) {option}" for i, option in enumerate(options, start=1))


def applicable_answers(questions: list[dict], answers: dict) -> dict:
    """The answers to questions that apply given the others (BACK over a branch leaves stale ones)."""
    kept: dict = {}
    for question in questions:
        if question["key"] in answers and condition_met(question, kept):
            kept[question["key"]] = answers[question["key"]]
    return kept
