from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.paperwork.workdays import add_workdays, is_workday, workday_deadline, workdays_left

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_weekends_and_holidays_are_skipped_and_exchange_days_count():
    assert not is_workday(date(2025, 3, 8))  # Saturday
    assert not is_workday(date(2025, 10, 8))  # National Day holiday, a Wednesday
    assert is_workday(date(2025, 9, 28))  # a Sunday worked in exchange
    assert add_workdays(date(2025, 3, 7), 3) == date(2025, 3, 12)  # Friday → Wednesday
    # Over the Golden Week: Thursday 9, Friday 10 and Saturday 11 October (worked in exchange).
    assert add_workdays(date(2025, 9, 30), 3) == date(2025, 10, 11)


def test_the_deadline_is_the_end_of_the_third_working_day():
    submitted = datetime(2025, 3, 7, 23, 30, tzinfo=SHANGHAI)  # Friday night
    deadline = workday_deadline(submitted, 3)
    assert deadline == datetime(2025, 3, 12, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert workdays_left(deadline, datetime(2025, 3, 8, 10, tzinfo=SHANGHAI)) == 3
    assert workdays_left(deadline, datetime(2025, 3, 11, 9, tzinfo=SHANGHAI)) == 1
    assert workdays_left(deadline, datetime(2025, 3, 12, 23, 59, tzinfo=SHANGHAI)) == 0
    assert workdays_left(deadline, datetime(2025, 3, 13, 9, tzinfo=SHANGHAI)) == -1
