"""The restricted template language: known placeholders with fallbacks, nothing else."""

from __future__ import annotations

import pytest

from campaigns.rendering import (
    RenderContext,
    TemplateSyntaxError,
    compile_expression,
    compile_template,
    render,
)

KEYS = {"appointment_date", "clinic-room"}


def rendered(source: str, **context) -> str:
    return render(compile_template(source, custom_keys=KEYS), RenderContext(**context)).text


def error_of(source: str) -> TemplateSyntaxError:
    with pytest.raises(TemplateSyntaxError) as info:
        compile_template(source, custom_keys=KEYS)
    return info.value


def test_it_renders_every_known_placeholder():
    text = rendered("Hi {{ first_name }} {{last_name}}, see you {{ custom.appointment_date }} at "
                    "{{ organisation }} room {{ custom.clinic-room }}.",
                    first_name="Ada", last_name="Lovelace", organisation="North Clinic",
                    custom={"appointment_date": "2026-12-03", "clinic-room": 4})
    assert text == "Hi Ada Lovelace, see you 2026-12-03 at North Clinic room 4."


def test_a_fallback_stands_in_for_a_missing_or_blank_value():
    assert rendered('Hi {{ first_name | "there" }}!') == "Hi there!"
    assert rendered('Hi {{ first_name|"there" }}!', first_name="   ") == "Hi there!"
    assert rendered('Hi {{ first_name | "there" }}!', first_name="Ada") == "Hi Ada!"
    assert rendered('On {{ custom.appointment_date | "your next visit" }}') == "On your next visit"


def test_a_missing_value_without_fallback_is_reported():
    template = compile_template("Hi {{ first_name }} {{ last_name | \"\" }}")
    result = render(template, RenderContext(last_name=None))
    assert result.text == "Hi  "
    assert result.missing == {"first_name"}


def test_a_patients_value_is_never_read_as_template_text():
    text = rendered("Hi {{ first_name }}", first_name="{{ last_name }} {% load os %}")
    assert text == "Hi {{ last_name }} {% load os %}"


@pytest.mark.parametrize("source", [
    "{{ first_name.__class__ }}",
    "{{ first_name.__class__.__mro__ }}",
    "{{ custom.appointment_date.__init__ }}",
    "{{ request }}",
    "{{ settings.SECRET_KEY }}",
    "{{ first_name[0] }}",
    "{{ first_name() }}",
    "{{ 7*7 }}",
])
def test_it_refuses_attribute_index_call_and_unknown_names(source):
    error = error_of(source)
    assert error.position >= 2
    assert "placeholder" in error.message.lower() or "unexpected" in error.message.lower()


@pytest.mark.parametrize(("source", "needle"), [
    ("{% load static %}", "tag"),
    ("Hi {# comment #}", "tag"),
    ("{{ custom.appointment_date|safe }}", "filters are not supported"),
    ("{{ first_name | upper }}", "filters are not supported"),
    ('{{ first_name | "a" | "b" }}', "unexpected"),
    ("{{ first_name {{ last_name }} }}", "nested"),
    ("{{{ first_name }}}", "nested"),
    ("Hi {{ first_name", "never closed"),
    ("Hi first_name }}", "without a matching"),
    ("Hi { first_name }", "single '{'"),
    ("{{ }}", "needs a field name"),
    ('{{ first_name | "unclosed }}', "closing double quote"),
])
def test_it_refuses_tags_filters_nesting_and_unbalanced_braces(source, needle):
    assert needle in error_of(source).message.lower()


def test_an_unknown_custom_key_is_refused_with_a_way_out():
    error = error_of("Your {{ custom.insurer }}")
    assert "no custom field with the key 'insurer'" in error.message
    assert "Contacts" in error.message


def test_the_error_names_line_and_column():
    error = error_of("Hello\nsee you {{ custm.x }} soon")
    assert (error.line, error.column) == (2, 12)
    assert error.message.startswith("Line 2, column 12:")
    assert error.position == len("Hello\nsee you {{ ")


def test_literal_text_is_kept_exactly():
    source = "Price: 10€ ~ [ok] | 100% \\o/ \"quoted\" ünïcödé 😀"
    assert rendered(source) == source


def test_a_whatsapp_parameter_expression_is_the_same_grammar_without_braces():
    placeholder = compile_expression('custom.appointment_date | "soon"', custom_keys=KEYS)
    assert (placeholder.variable, placeholder.fallback) == ("custom.appointment_date", "soon")
    with pytest.raises(TemplateSyntaxError):
        compile_expression("{{ first_name }}")
    with pytest.raises(TemplateSyntaxError):
        compile_expression("first_name.__class__")
