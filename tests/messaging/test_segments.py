"""SMS segment counting: what a clinic is billed for, and what the live counter shows."""

from __future__ import annotations

import pytest

from messaging.segments import GSM7, UCS2, count_segments, gsm7_tables, is_gsm7


@pytest.mark.parametrize(
    ("length", "segments", "remaining"),
    [(1, 1, 159), (160, 1, 0), (161, 2, 145), (306, 2, 0), (307, 3, 152), (459, 3, 0)],
)
def test_plain_ascii_fills_160_then_153_per_part(length, segments, remaining):
    info = count_segments("a" * length)
    assert (info.encoding, info.segments, info.remaining) == (GSM7, segments, remaining)
    assert info.units == info.characters == length


def test_empty_text_is_zero_segments_with_a_whole_sms_left():
    info = count_segments("")
    assert (info.segments, info.units, info.remaining, info.encoding) == (0, 0, 160, GSM7)


@pytest.mark.parametrize("char", ["€", "{", "}", "[", "]", "~", "|", "^", "\\", "\f"])
def test_extension_characters_cost_two_septets(char):
    info = count_segments(char * 80)
    assert info.encoding == GSM7
    assert info.units == 160
    assert info.characters == 80
    assert info.segments == 1
    assert count_segments(char * 81).segments == 2


def test_an_escape_pair_is_not_split_across_parts():
    # 152 plain septets + "€" (2) do not fit the 153 of part one: "€" moves to part two.
    info = count_segments("a" * 152 + "€" + "b" * 10)
    assert info.units == 164
    assert info.segments == 2
    assert info.remaining == 153 - 12


def test_one_emoji_switches_to_ucs2_and_counts_two_units():
    info = count_segments("Your appointment is confirmed 👍")
    assert info.encoding == UCS2
    assert info.units == len("Your appointment is confirmed ") + 2
    assert info.characters == len("Your appointment is confirmed ") + 1
    assert info.remaining == 70 - info.units


@pytest.mark.parametrize(
    ("text", "segments", "remaining"),
    [("á" * 70, 1, 0), ("á" * 71, 2, 63), ("á" * 134, 2, 0), ("á" * 135, 3, 66)],
)
def test_ucs2_fills_70_then_67_per_part(text, segments, remaining):
    info = count_segments(text)
    assert (info.encoding, info.segments, info.remaining) == (UCS2, segments, remaining)


def test_a_surrogate_pair_is_not_split_across_parts():
    # 66 units + an emoji (2 units) overflows part one's 67: the emoji starts part two.
    info = count_segments("á" * 66 + "😀" + "á" * 5)
    assert info.units == 73
    assert info.segments == 2
    assert info.remaining == 67 - 7


def test_e_acute_is_gsm7_but_a_acute_is_not():
    assert is_gsm7("é") and count_segments("Café").encoding == GSM7
    assert not is_gsm7("á") and count_segments("Está").encoding == UCS2


@pytest.mark.parametrize("char", ["@", "£", "¥", "Ç", "Ø", "Δ", "ß", "É", "¤", "¡", "§", "¿", "à"])
def test_gsm0338_basic_letters_stay_gsm7(char):
    assert count_segments(char).encoding == GSM7


@pytest.mark.parametrize("char", ["ç", "ó", "ú", "`", "\u2019", "\t"])
def test_characters_outside_gsm0338_force_ucs2(char):
    assert count_segments(char).encoding == UCS2


def test_tables_are_exported_for_the_browser_counter():
    tables = gsm7_tables()
    assert len(tables.basic) == 127  # 128 code points minus the escape
    assert "\x1b" not in tables.basic
    assert set(tables.extension) == set("\f^{}\\[~]|€")
    assert not set(tables.basic) & set(tables.extension)
    assert tables._asdict() == {"basic": tables.basic, "extension": tables.extension}
