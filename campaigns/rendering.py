"""The campaign template language: a tokenizer and a renderer of our own, deliberately tiny.

A template is literal text with placeholders ``{{ first_name }}``, ``{{ last_name }}``,
``{{ organisation }}`` and ``{{ custom.<key> }}``, each with an optional fallback in double
quotes: ``{{ first_name | "there" }}``. Nothing else: no filters, tags, comments, attribute
or index access, no expressions. Django's or Jinja's engines are not used on purpose — a
staff-written text must never reach code that can call methods or load libraries, and a
patient's value inserted into the output is never read as template text again.

Everything that is not exactly this grammar is refused when the template is saved, with
the position (1-based line and column) and what to write instead. A lone ``{`` or ``}``
is refused too: it is almost always a mistyped placeholder, and refusing it keeps the
grammar free of ambiguity (``{{{ x }}}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

BUILTIN_VARIABLES = ("first_name", "last_name", "organisation")
CUSTOM_PREFIX = "custom."
FALLBACK_MAX = 100
# Custom field keys are slugs (contacts.CustomField.key).
_CUSTOM_KEY = re.compile(r"[A-Za-z0-9_-]{1,50}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


class TemplateSyntaxError(ValueError):
    """A template that does not follow the grammar; ``position`` is the 0-based offset."""

    def __init__(self, message: str, *, source: str, position: int) -> None:
        line = source.count("\n", 0, position) + 1
        column = position - (source.rfind("\n", 0, position) + 1) + 1
        self.position, self.line, self.column = position, line, column
        self.message = f"Line {line}, column {column}: {message}"
        super().__init__(self.message)


@dataclass(frozen=True)
class Placeholder:
    """One ``{{ variable | "fallback" }}``; ``fallback`` is None when none was written."""

    variable: str
    fallback: str | None
    position: int

    @property
    def custom_key(self) -> str | None:
        return self.variable[len(CUSTOM_PREFIX):] if self.variable.startswith(CUSTOM_PREFIX) else None


@dataclass(frozen=True)
class CompiledTemplate:
    """A parsed template: literal strings and placeholders in order."""

    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p.variable for p in self.placeholders)

    @property
    def custom_keys(self) -> frozenset[str]:
        return frozenset(p.custom_key for p in self.placeholders if p.custom_key)

    @property
    def uses_names(self) -> bool:
        return bool({"first_name", "last_name"} & self.variables)


@dataclass
class RenderContext:
    """The values one recipient's message is made of (PHI: never log it)."""

    first_name: str | None = None
    last_name: str | None = None
    organisation: str | None = None
    custom: Mapping[str, object] = field(default_factory=dict)

    def value_of(self, variable: str) -> str | None:
        if variable.startswith(CUSTOM_PREFIX):
            raw = (self.custom or {}).get(variable[len(CUSTOM_PREFIX):])
        else:
            raw = getattr(self, variable)
        if raw is None:
            return None
        text = str(raw).strip()
        return text or None


@dataclass(frozen=True)
class Rendered:
    """A rendered text and the variables that had no value and no fallback."""

    text: str
    missing: frozenset[str]


# --- parsing -------------------------------------------------------------------------------

def compile_template(source: str, *, custom_keys: Iterable[str] = ()) -> CompiledTemplate:
    """Parse ``source``; raise TemplateSyntaxError at the first problem.

    ``custom_keys`` are the organisation's custom field keys: ``{{ custom.<key> }}`` must
    name one of them.
    """
    known_custom = frozenset(custom_keys)
    parts: list[str | Placeholder] = []
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        two = source[i:i + 2]
        if two in ("{%", "{#"):
            raise TemplateSyntaxError(
                f"'{two}' starts a tag or comment, which campaign templates do not have. "
                "Only placeholders such as {{ first_name }} are allowed.", source=source, position=i)
        if two == "{{":
            end = source.find("}}", i + 2)
            if end == -1:
                raise TemplateSyntaxError("'{{' is never closed: end the placeholder with '}}'.",
                                          source=source, position=i)
            inner = source[i + 2:end]
            for offset, char in enumerate(inner):
                if char in "{}":
                    raise TemplateSyntaxError(
                        f"'{char}' inside a placeholder: placeholders cannot be nested. "
                        "Write one placeholder per {{ }}.", source=source, position=i + 2 + offset)
            if literal:
                parts.append("".join(literal))
                literal = []
            parts.append(_parse_placeholder(inner, source=source, start=i + 2, known_custom=known_custom))
            i = end + 2
            continue
        char = source[i]
        if char == "}":
            raise TemplateSyntaxError(
                "'}' without a matching '{{': remove it, or write a placeholder as {{ first_name }}.",
                source=source, position=i)
        if char == "{":
            raise TemplateSyntaxError(
                "A single '{': placeholders are written with two braces, {{ first_name }}.",
                source=source, position=i)
        literal.append(char)
        i += 1
    if literal:
        parts.append("".join(literal))
    return CompiledTemplate(tuple(parts))


def compile_expression(expression: str, *, custom_keys: Iterable[str] = ()) -> Placeholder:
    """One placeholder's inside without braces (``custom.date | "soon"``): WhatsApp parameters."""
    if "{" in expression or "}" in expression:
        raise TemplateSyntaxError("Write the field without braces, e.g. first_name | \"there\".",
                                  source=expression, position=max(expression.find("{"), expression.find("}")))
    return _parse_placeholder(expression, source=expression, start=0, known_custom=frozenset(custom_keys))


def _parse_placeholder(inner: str, *, source: str, start: int, known_custom: frozenset[str]) -> Placeholder:
    pos = _skip_spaces(inner, 0)
    match = _NAME.match(inner, pos)
    if not match:
        raise TemplateSyntaxError(
            "A placeholder needs a field name, e.g. {{ first_name }}.", source=source, position=start + pos)
    name = match.group(0)
    _check_variable(name, source=source, position=start + pos, known_custom=known_custom)
    pos = _skip_spaces(inner, match.end())
    fallback = None
    if pos < len(inner) and inner[pos] == "|":
        pos = _skip_spaces(inner, pos + 1)
        if pos >= len(inner) or inner[pos] != '"':
            raise TemplateSyntaxError(
                "After '|' only a fallback text in double quotes may follow, e.g. "
                "{{ first_name | \"there\" }} (filters are not supported).",
                source=source, position=start + pos)
        close = inner.find('"', pos + 1)
        if close == -1:
            raise TemplateSyntaxError("The fallback's closing double quote is missing.",
                                      source=source, position=start + pos)
        fallback = inner[pos + 1:close]
        if "\n" in fallback or len(fallback) > FALLBACK_MAX:
            raise TemplateSyntaxError(
                f"A fallback is one line of at most {FALLBACK_MAX} characters.",
                source=source, position=start + pos)
        pos = _skip_spaces(inner, close + 1)
    if pos < len(inner):
        raise TemplateSyntaxError(
            f"Unexpected '{inner[pos]}' in the placeholder: write only a field name and an optional "
            "fallback, e.g. {{ first_name | \"there\" }}.", source=source, position=start + pos)
    return Placeholder(variable=name, fallback=fallback, position=start)


def _check_variable(name: str, *, source: str, position: int, known_custom: frozenset[str]) -> None:
    if name in BUILTIN_VARIABLES:
        return
    if name.startswith(CUSTOM_PREFIX):
        key = name[len(CUSTOM_PREFIX):]
        if _CUSTOM_KEY.fullmatch(key) and key in known_custom:
            return
        if _CUSTOM_KEY.fullmatch(key):
            raise TemplateSyntaxError(
                f"'{name}': there is no custom field with the key '{key}'. Create it under Contacts → "
                "Fields, or use one of the keys listed beside the editor.", source=source, position=position)
    raise TemplateSyntaxError(
        f"Unknown placeholder '{name[:60]}'. Use first_name, last_name, organisation or "
        "custom.<key>.", source=source, position=position)


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


# --- rendering -----------------------------------------------------------------------------

def render(template: CompiledTemplate, context: RenderContext) -> Rendered:
    """The text for one recipient. A value is inserted as it is — never parsed again — so a
    patient named "{{ last_name }}" gets exactly that text. A variable with no value uses its
    fallback; with no fallback it renders empty and is listed in ``missing``."""
    out: list[str] = []
    missing: set[str] = set()
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        out.append(resolve(part, context, missing))
    return Rendered(text="".join(out), missing=frozenset(missing))


def resolve(placeholder: Placeholder, context: RenderContext, missing: set[str]) -> str:
    """One placeholder's value for ``context`` (adds its variable to ``missing`` when empty)."""
    value = context.value_of(placeholder.variable)
    if value is not None:
        return value
    if placeholder.fallback is not None:
        return placeholder.fallback
    missing.add(placeholder.variable)
    return ""
