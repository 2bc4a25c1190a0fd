"""Retro-authorization deadlines: date arithmetic in calendar or US business days.

How a window of ``days`` is counted (``window: {days, count, from}``):

* The **from-date** (the earliest date of service, the denial date or the
  earliest discharge date) is day 0. Counting starts the day after it, the
  way payers word their rules ("within 45 calendar days from the date of
  service", "up to 90 days after the service").
* ``count: calendar`` counts every day: the deadline is ``from + days``.
* ``count: business`` counts only Monday-Friday days that are not US federal
  holidays. Observed dates count as holidays (Independence Day on a Saturday
  is observed on Friday; New Year's Day on a Saturday is observed on the
  Friday before, in the previous year). The deadline is the ``days``-th such
  day after the from-date, so it is always a business day.
* The window is **inclusive of its last day**: a request received on the
  deadline itself is in time. ``days_left = (deadline - today).days``, in
  calendar days whatever the count: 0 means today is the last day, a
  negative number means the deadline has passed.
* A calendar deadline that falls on a weekend or holiday is not moved: payers
  that want that say so, and an earlier date is the safe reading.
* ``days: 0`` means the request is due on the from-date itself.

Holidays come from the ``holidays`` package (``country_holidays("US")``: the
federal holidays of 5 U.S.C. 6103, eleven since Juneteenth joined them in
2021, with observed dates). One-off closures by executive order are not
included.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import holidays

from ..model import Case, Window

_ONE_DAY = dt.timedelta(days=1)

FROM_WORDS = {
    "date_of_service": "the first date of service",
    "denial_date": "the denial date",
    "discharge_date": "the discharge date",
    "decision_date": "the date of the payer's decision",
}


@lru_cache(maxsize=1)
def us_federal_holidays() -> holidays.HolidayBase:
    """US federal holidays with observed dates; years are filled in as they are looked up."""
    return holidays.country_holidays("US", observed=True)


def is_business_day(day: dt.date) -> bool:
    """True for Monday-Friday days that are not US federal holidays (observed dates included)."""
    return day.weekday() < 5 and day not in us_federal_holidays()


def add_days(start: dt.date, days: int, count: str) -> dt.date:
    """The last day of a window of ``days`` counted after ``start`` (``count``: calendar or business)."""
    if days < 0:
        raise ValueError(f"days must be >= 0, not {days}")
    if count == "calendar":
        return start + dt.timedelta(days=days)
    if count != "business":
        raise ValueError(f"count must be 'calendar' or 'business', not {count!r}")
    day, counted = start, 0
    while counted < days:
        day += _ONE_DAY
        if is_business_day(day):
            counted += 1
    return day


def describe_window(window: Window) -> str:
    """``Window(45, "calendar", "date_of_service")`` -> ``45 calendar days from the first date of service``."""
    unit = "day" if window.days == 1 else "days"
    return f"{window.days} {window.count} {unit} from {FROM_WORDS[window.start_from]}"


def days_left_words(days_left: int) -> str:
    """How near a deadline is, in the words every door uses.

    ``3`` -> ``3 days left``, ``1`` -> ``1 day left``, ``0`` -> ``today is the last day``,
    ``-2`` -> ``passed 2 days ago`` (``days_left`` as :func:`~packetizer.checks.run_checks` counts it).
    """
    if days_left < 0:
        late = -days_left
        return f"passed {late} day{'s' if late != 1 else ''} ago"
    if days_left == 0:
        return "today is the last day"
    return f"{days_left} day{'s' if days_left != 1 else ''} left"


@dataclass(frozen=True)
class Deadline:
    """A computed deadline: the last day, the from-date and the case field it came from."""

    date: dt.date
    start: dt.date
    start_field: str
    window: Window


@dataclass(frozen=True)
class Anchor:
    """Where a window starts: a date and its field path, or (``missing``) what the case lacks."""

    date: dt.date | None
    field: str
    missing: str | None = None


def window_anchor(case: Case, window: Window) -> Anchor:
    """The from-date of ``window`` in ``case``; the earliest one governs when several lines have one."""
    if not case.services:
        return Anchor(None, "services", "service line")
    if window.start_from == "date_of_service":
        i, line = min(enumerate(case.services), key=lambda item: (item[1].start, item[0]))
        return Anchor(line.start, f"services[{i}].{'start_date' if line.is_span else 'date_of_service'}")
    if window.start_from == "decision_date":
        prior = case.prior_request
        if prior is None or prior.decision_date is None:
            return Anchor(None, "prior_request.decision_date", "prior_request.decision_date")
        return Anchor(prior.decision_date, "prior_request.decision_date")
    if window.start_from == "denial_date":
        if case.claim is None or case.claim.denial_date is None:
            return Anchor(None, "claim.denial_date", "claim.denial_date")
        return Anchor(case.claim.denial_date, "claim.denial_date")
    discharged = [(line.discharge_date, i) for i, line in enumerate(case.services) if line.discharge_date]
    if not discharged:
        return Anchor(None, "services[0].discharge_date", "discharge_date on any service line")
    day, i = min(discharged)
    return Anchor(day, f"services[{i}].discharge_date")


def compute_deadline(case: Case, window: Window) -> Deadline | None:
    """The deadline for ``case`` under ``window``, or None when its from-date is missing."""
    anchor = window_anchor(case, window)
    if anchor.date is None:
        return None
    return Deadline(add_days(anchor.date, window.days, window.count), anchor.date, anchor.field, window)
