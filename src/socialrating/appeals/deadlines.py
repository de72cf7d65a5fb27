"""When a reviewer must have answered an appeal: calendar or working days after filing."""

from __future__ import annotations

import datetime as dt

from socialrating.rulebook.schema import Appeals

_SATURDAY = 5  # date.weekday(): Monday is 0


def deadline(filed: dt.date, rules: Appeals) -> dt.date:
    """The last day on which a review of an appeal filed on ``filed`` is in time.

    It is ``rules.deadline_days`` days after ``filed``, the filing day not counted:
    calendar days, or with ``rules.working_days`` the days from Monday to Friday that are
    not among ``rules.holidays`` (an appeal filed on a Friday with 7 working days is due
    on the Tuesday of the week after next).
    """
    if not rules.working_days:
        return filed + dt.timedelta(days=rules.deadline_days)
    holidays = set(rules.holidays)
    day, left = filed, rules.deadline_days
    while left:
        day += dt.timedelta(days=1)
        if day.weekday() < _SATURDAY and day not in holidays:
            left -= 1
    return day
