"""Answer parsers: patient-friendly input in, clean values out, or a reason to re-ask."""

from __future__ import annotations

import datetime

import pytest

from campaigns.intake.answers import Context, InvalidAnswer, parse_answer
from campaigns.intake.photos import image_type

TODAY = datetime.date(2026, 6, 1)
US = Context(language="en", region="US", today=TODAY)
GB = Context(language="en", region="GB", today=TODAY)
ES = Context(language="es", region="ES", today=TODAY)
DATE = {"kind": "date"}


@pytest.mark.parametrize(
    "raw,ctx,expected",
    [
        ("3/14/1985", US, "1985-03-14"),
        ("14.03.1985", US, "1985-03-14"),  # 14 cannot be a month: unambiguous anywhere
        ("March 14 1985", US, "1985-03-14"),
        ("14 March 1985", GB, "1985-03-14"),
        ("mar 14, 1985", US, "1985-03-14"),
        ("14 de marzo de 1985", ES, "1985-03-14"),
        ("1985-03-14", GB, "1985-03-14"),
        ("4/5/1990", US, "1990-04-05"),  # month first in the US…
        ("4/5/1990", GB, "1990-05-04"),  # …day first in Britain
        ("4/5/1990", ES, "1990-05-04"),
    ],
)
def test_dates_in_the_formats_patients_write(raw, ctx, expected):
    assert parse_answer(DATE, raw, ctx) == expected


@pytest.mark.parametrize(
    "raw,ctx,reason",
    [
        ("2/30/1985", US, "that date does not exist"),
        ("31.04.1990", GB, "that date does not exist"),
        ("13/13/1990", GB, "that date does not exist"),
            ("the fourth", GB, "not a date I understand (try 14/03/1985)"),
        ("someday", US, "not a date I understand (try 3/14/1985)"),
        ("3/14/2030", US, "that date is in the future"),
        ("30/02/1990", ES, "esa fecha no existe"),
    ],
)
def test_impossible_and_future_dates_are_refused_with_a_reason(raw, ctx, reason):
    with pytest.raises(InvalidAnswer) as refused:
        parse_answer(DATE, raw, ctx)
    assert reason in refused.value.reason


def test_future_dates_are_accepted_where_the_question_allows_them():
    assert parse_answer({"kind": "date", "allow_future": True}, "6/2/2026", US) == "2026-06-02"


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("yes", True),
        ("Y", True),
        ("sí", True),
        ("SI", True),
        ("1", True),
        ("ok", True),
        ("no", False),
        ("N", False),
        ("0", False),
        ("nope", False),
    ],
)
def test_yes_and_no_in_english_and_spanish(raw, expected):
    assert parse_answer({"kind": "yes_no"}, raw, US) is expected


def test_text_over_the_limit_is_refused_with_the_limit():
    with pytest.raises(InvalidAnswer) as refused:
        parse_answer({"kind": "text", "max_length": 500}, "a" * 5000, US)
    assert refused.value.reason == "the answer is 5000 characters long; the limit is 500"


@pytest.mark.parametrize("raw,expected", [("42", 42), ("72.5", 72.5), ("72,5", 72.5), (" 7 ", 7)])
def test_numbers(raw, expected):
    assert parse_answer({"kind": "number", "min_value": "0", "max_value": "100"}, raw, US) == expected


@pytest.mark.parametrize(
    "raw,reason", [("NaN", "not a number"), ("-1", "at least 0"), ("1e9", "at most 100")]
)
def test_numbers_out_of_range_or_not_numbers(raw, reason):
    with pytest.raises(InvalidAnswer) as refused:
        parse_answer({"kind": "number", "min_value": "0", "max_value": "100"}, raw, US)
    assert reason in refused.value.reason


CHOICE = {"kind": "single_choice", "choices": ["Check-up", "Dolor de cabeza", "Other"]}


@pytest.mark.parametrize(
    "raw,reply,expected",
    [
        ("2", "", "Dolor de cabeza"),
        ("dolor de cabeza", "", "Dolor de cabeza"),
        ("CHECK-UP", "", "Check-up"),
        ("whatever the title", "opt2", "Other"),
    ],
)
def test_single_choice_by_number_text_or_button(raw, reply, expected):
    assert parse_answer(CHOICE, raw, US, reply_id=reply) == expected


def test_multiple_choice_keeps_the_questionnaires_order():
    question = {"kind": "multiple_choice", "choices": ["Penicillin", "Latex", "Peanuts"]}
    assert parse_answer(question, "3 and 1", US) == ["Penicillin", "Peanuts"]
    assert parse_answer(question, "latex, peanuts", US) == ["Latex", "Peanuts"]
    with pytest.raises(InvalidAnswer):
        parse_answer(question, "1, 4", US)


def test_phones_use_the_organisations_region():
    assert parse_answer({"kind": "phone"}, "(415) 555-0142", US) == "+14155550142"
    assert parse_answer({"kind": "phone"}, "020 7946 0018", GB) == "+442079460018"
    with pytest.raises(InvalidAnswer):
        parse_answer({"kind": "phone"}, "12345", US)


def test_emails():
    assert parse_answer({"kind": "email"}, "Ana@Example.COM", US) == "Ana@example.com"
    with pytest.raises(InvalidAnswer):
        parse_answer({"kind": "email"}, "ana@", US)


@pytest.mark.parametrize(
    "data,expected",
    [
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\nrest", "image/png"),
        (b"GIF89a...", "image/gif"),
        (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp"),
        (b"\0\0\0\x18ftypheic", "image/heic"),
        (b"%PDF-1.7", None),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_only_real_images_pass_the_magic_bytes_check(data, expected):
    assert image_type(data) == expected
