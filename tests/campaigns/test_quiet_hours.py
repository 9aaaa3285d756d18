"""next_send_time: now inside the window, else the next opening — in the recipient's own zone."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest

from campaigns.quiet_hours import Window, next_send_time, zone

UTC = datetime.UTC
T = datetime.time


def at(zone_name: str, *args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=zoneinfo.ZoneInfo(zone_name))


@pytest.mark.parametrize("zone_name", ["US/Hawaii", "Europe/Berlin", "Asia/Kolkata"])
def test_inside_the_window_it_is_now(zone_name):
    now = at(zone_name, 2026, 6, 10, 12, 0).astimezone(UTC)
    assert next_send_time(now, zone_name) == now


@pytest.mark.parametrize("zone_name", ["US/Hawaii", "Europe/Berlin", "Asia/Kolkata"])
def test_at_night_it_is_eight_the_next_morning_local_time(zone_name):
    now = at(zone_name, 2026, 6, 10, 22, 30).astimezone(UTC)
    result = next_send_time(now, zone_name)
    assert result.astimezone(zoneinfo.ZoneInfo(zone_name)) == at(zone_name, 2026, 6, 11, 8, 0)
    assert result.tzinfo == UTC


def test_before_opening_it_is_eight_the_same_morning():
    now = at("Asia/Kolkata", 2026, 6, 10, 6, 15).astimezone(UTC)
    assert next_send_time(now, "Asia/Kolkata") == at("Asia/Kolkata", 2026, 6, 10, 8, 0)


def test_one_instant_three_zones_three_answers():
    now = datetime.datetime(2026, 6, 10, 18, 0, tzinfo=UTC)  # Honolulu 08:00, Berlin 20:00, Kolkata 23:30
    assert next_send_time(now, "US/Hawaii") == now
    assert next_send_time(now, "Europe/Berlin") == now
    assert next_send_time(now, "Asia/Kolkata") == at("Asia/Kolkata", 2026, 6, 11, 8, 0)


def test_the_end_of_the_window_is_exclusive_and_the_start_inclusive():
    berlin = "Europe/Berlin"
    assert next_send_time(at(berlin, 2026, 6, 10, 21, 0), berlin) == at(berlin, 2026, 6, 11, 8, 0)
    opening = at(berlin, 2026, 6, 10, 8, 0)
    assert next_send_time(opening, berlin) == opening


def test_berlin_spring_forward_day_opens_at_eight_cest():
    # 2026-03-29: clocks jump 02:00 → 03:00. Saturday 23:00 CET → Sunday 08:00 CEST.
    now = at("Europe/Berlin", 2026, 3, 28, 23, 0).astimezone(UTC)
    result = next_send_time(now, "Europe/Berlin")
    assert result == datetime.datetime(2026, 3, 29, 6, 0, tzinfo=UTC)  # 08:00 CEST = UTC+2


def test_berlin_fall_back_day_opens_at_eight_cet():
    now = at("Europe/Berlin", 2026, 10, 24, 22, 0).astimezone(UTC)
    assert next_send_time(now, "Europe/Berlin") == datetime.datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


def test_an_opening_in_the_skipped_hour_moves_past_the_gap():
    window = Window(T(2, 30), T(21, 0))
    now = at("Europe/Berlin", 2026, 3, 29, 0, 30).astimezone(UTC)
    result = next_send_time(now, "Europe/Berlin", window)
    local = result.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    assert local.utcoffset() == datetime.timedelta(hours=2)
    assert window.contains(local.time()) and result > now
    assert local.hour == 3


def test_an_opening_in_the_repeated_hour_is_its_first_occurrence():
    window = Window(T(2, 30), T(21, 0))
    now = at("Europe/Berlin", 2026, 10, 25, 0, 30).astimezone(UTC)
    result = next_send_time(now, "Europe/Berlin", window)
    assert result == datetime.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST, first pass


def test_hawaii_and_kolkata_keep_the_same_offset_across_the_us_and_eu_change_days():
    for day in (datetime.date(2026, 3, 8), datetime.date(2026, 3, 29), datetime.date(2026, 11, 1)):
        for zone_name, offset in (("US/Hawaii", -10), ("Asia/Kolkata", 5.5)):
            tz = zoneinfo.ZoneInfo(zone_name)
            now = datetime.datetime.combine(day, T(23, 0), tzinfo=tz).astimezone(UTC)
            local = next_send_time(now, zone_name).astimezone(tz)
            assert local.time() == T(8, 0)
            assert local.utcoffset() == datetime.timedelta(hours=offset)


def test_new_york_spring_forward_evening_defers_to_the_right_morning():
    now = datetime.datetime(2026, 3, 8, 2, 30, tzinfo=UTC)  # 21:30 EST on the 7th
    eight_edt = datetime.datetime(2026, 3, 8, 12, 0, tzinfo=UTC)
    assert next_send_time(now, "America/New_York") == eight_edt


def test_a_window_past_midnight():
    window = Window(T(20, 0), T(2, 0))
    berlin = "Europe/Berlin"
    assert next_send_time(at(berlin, 2026, 6, 10, 1, 0), berlin, window) == at(berlin, 2026, 6, 10, 1, 0)
    assert next_send_time(at(berlin, 2026, 6, 10, 12, 0), berlin, window) == at(berlin, 2026, 6, 10, 20, 0)


def test_an_empty_window_and_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="different times"):
        Window(T(8, 0), T(8, 0))
    with pytest.raises(ValueError, match="aware"):
        next_send_time(datetime.datetime(2026, 1, 1, 12), "UTC")


def test_an_unknown_zone_falls_back():
    assert zone("Mars/Olympus", "Europe/Berlin") == zoneinfo.ZoneInfo("Europe/Berlin")
    assert zone("", "") == zoneinfo.ZoneInfo("UTC")
