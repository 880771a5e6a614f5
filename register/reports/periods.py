"""Calendar months and quarters for reports: the last twelve months up to a day."""

from __future__ import annotations

from datetime import date

from register.rules.reviews import add_months

QUARTER_MONTHS = ("Jan-Mar", "Apr-Jun", "Jul-Sep", "Oct-Dec")


def label(day: date, period: str) -> str:
    if period == "quarter":
        quarter = (day.month - 1) // 3
        return f"{day.year} Q{quarter + 1} ({QUARTER_MONTHS[quarter]})"
    return f"{day.year}-{day.month:02d}"


def window(on: date, period: str, months: int = 12) -> list[str]:
    """Labels of the last `months` months, or the whole quarters covering as many months,
    ending with the one `on` falls in, oldest first."""
    step = 3 if period == "quarter" else 1
    last = on.replace(day=1, month=on.month - (on.month - 1) % step)
    return [label(add_months(last, -step * back), period)
            for back in reversed(range(months // step))]
