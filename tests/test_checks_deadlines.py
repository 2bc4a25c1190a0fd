"""Deadline arithmetic: calendar and US business days, holidays and observed dates."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from packetizer.checks.deadlines import add_days, days_left_words, describe_window, is_business_day
from packetizer.model import Window

D = dt.date


def test_five_business_days_from_the_tuesday_before_thanksgiving_skip_the_holiday_and_weekend():
    # Tue 2026-11-24 is day 0; Wed 25 (1), Thu 26 Thanksgiving, Fri 27 (2), Mon 30 (3), Tue 1 (4), Wed 2 (5).
    assert add_days(D(2026, 11, 24), 5, "business") == D(2026, 12, 2)


def test_a_saturday_holiday_is_skipped_on_the_friday_it_is_observed():
    # Independence Day 2026 is Saturday 4 July, observed Friday 3 July.
    assert not is_business_day(D(2026, 7, 3))
    assert add_days(D(2026, 7, 2), 1, "business") == D(2026, 7, 6)
    # Juneteenth 2027 is Saturday 19 June, observed Friday 18 June.
    assert add_days(D(2027, 6, 17), 1, "business") == D(2027, 6, 21)


def test_a_sunday_holiday_is_skipped_on_the_monday_it_is_observed():
    # Christmas 2022 is a Sunday, observed Monday 26 December.
    assert add_days(D(2022, 12, 23), 1, "business") == D(2022, 12, 27)


def test_new_years_day_on_a_saturday_is_observed_on_the_last_day_of_the_previous_year():
    # 1 January 2022 is a Saturday, observed Friday 31 December 2021.
    assert not is_business_day(D(2021, 12, 31))
    assert add_days(D(2021, 12, 30), 1, "business") == D(2022, 1, 3)


def test_a_business_window_starting_on_a_weekend_counts_from_the_next_business_day():
    # Saturday 2026-09-12: Mon 14 is day 1.
    assert add_days(D(2026, 9, 12), 1, "business") == D(2026, 9, 14)


def test_calendar_days_ignore_weekends_and_holidays_and_do_not_move_the_deadline():
    # 2026-12-25 (Christmas, a Friday) stays the deadline.
    assert add_days(D(2026, 12, 15), 10, "calendar") == D(2026, 12, 25)


def test_a_zero_day_window_ends_on_its_from_date():
    assert add_days(D(2026, 9, 14), 0, "calendar") == D(2026, 9, 14)
    assert add_days(D(2026, 9, 12), 0, "business") == D(2026, 9, 12)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="days must be >= 0"):
        add_days(D(2026, 1, 1), -1, "calendar")
    with pytest.raises(ValueError, match="count must be"):
        add_days(D(2026, 1, 1), 1, "fortnights")


def test_describe_window_reads_like_the_payer_rule():
    assert describe_window(Window(45, "calendar", "date_of_service")) == (
        "45 calendar days from the first date of service")
    assert describe_window(Window(1, "business", "denial_date")) == "1 business day from the denial date"


dates = st.dates(min_value=D(2000, 1, 1), max_value=D(2090, 12, 31))


@settings(max_examples=200, deadline=None)
@given(start=dates, days=st.integers(min_value=0, max_value=400))
def test_a_calendar_deadline_is_the_from_date_plus_the_days(start, days):
    assert add_days(start, days, "calendar") == start + dt.timedelta(days=days)


@settings(max_examples=200, deadline=None)
@given(start=dates, days=st.integers(min_value=1, max_value=60))
def test_a_business_deadline_is_a_business_day_with_exactly_the_window_of_business_days_before_it(start, days):
    deadline = add_days(start, days, "business")
    assert is_business_day(deadline)
    assert deadline.weekday() < 5
    counted = sum(
        is_business_day(start + dt.timedelta(days=n)) for n in range(1, (deadline - start).days + 1)
    )
    assert counted == days


@pytest.mark.parametrize("days, words", [
    (19, "19 days left"), (1, "1 day left"), (0, "today is the last day"),
    (-1, "passed 1 day ago"), (-12, "passed 12 days ago"),
])
def test_days_left_are_told_in_one_wording(days, words):
    """This test ensures the check command, the case list and the near-deadline warning say it alike."""
    assert days_left_words(days) == words
