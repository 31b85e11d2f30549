"""Working days (工作日) in mainland China: weekends and public holidays are skipped, the
weekend days worked in exchange (调休) count. The calendar is data: data/workdays_cn.json."""

from __future__ import annotations

import functools
import json
from datetime import date, datetime, time, timedelta
from pathlib import Path

from services.display import LOCAL_TZ

_CALENDAR = Path(__file__).parent / "data" / "workdays_cn.json"


@functools.cache
def _calendar() -> tuple[frozenset[date], frozenset[date]]:
    data = json.loads(_CALENDAR.read_text(encoding="utf-8"))

    def days(section: str) -> frozenset[date]:
        return frozenset(
            date(int(year), int(day[:2]), int(day[3:]))
            for year, listed in data[section].items()
            for day in listed
        )

    return days("holidays"), days("extra_workdays")


def is_workday(day: date) -> bool:
    holidays, extra_workdays = _calendar()
    if day in extra_workdays:
        return True
    return day.weekday() < 5 and day not in holidays


def add_workdays(start: date, count: int) -> date:
    """The ``count``-th working day after ``start`` (``start`` itself not counted)."""
    day = start
    while count > 0:
        day += timedelta(days=1)
        if is_workday(day):
            count -= 1
    return day


def workday_deadline(submitted_at: datetime, count: int) -> datetime:
    """The last moment (local 23:59:59.999999) of the ``count``-th working day after the day
    of submission."""
    local_day = submitted_at.astimezone(LOCAL_TZ).date()
    return datetime.combine(add_workdays(local_day, count), time.max, tzinfo=LOCAL_TZ)


def workdays_left(deadline: datetime, now: datetime) -> int:
    """Working days after today up to the deadline's last day: 0 on that day, negative when
    late (the working days past it)."""
    today = now.astimezone(LOCAL_TZ).date()
    last = deadline.astimezone(LOCAL_TZ).date()
    if today > last:
        return -sum(1 for n in range((today - last).days) if is_workday(last + timedelta(n + 1)))
    return sum(1 for n in range((last - today).days) if is_workday(today + timedelta(n + 1)))
