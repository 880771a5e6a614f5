"""The review scheduler (`s117 scheduler`; in embedded mode, part of the dispatcher).

Once a day is enough, but it runs every minute so a restart never skips a day: for every
active entitlement whose next review falls due within `S117_REVIEW_NOTICE_DAYS` it raises
`review-due`, and once the due date has passed without a review (rule R3) `review-overdue`,
each exactly once per entitlement and due date. A recorded review moves the due date, so the
next one is announced in its turn. With `flags` it also announces the Ombudsman flags that
come into force by the first-review window closing alone (RULES.md O2, O3) as `flag-raised`,
once each; a change of facts announces the others, and every clearing (register.changes).

Safe on several machines at once: register.store.reviews raises each notice once by its key,
with its outbox row in the same transaction. This module keeps the loop and its backoff.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from queues.connection import backoff
from queues.outbound.processes import short
from register.events import EventType
from register.store.reviews import ReviewNotices

log = logging.getLogger("s117.scheduler")
LONDON = ZoneInfo("Europe/London")
BATCH = 1000


def london_today() -> date:
    """Review dates are UK dates."""
    return datetime.now(LONDON).date()


class ReviewScheduler:
    def __init__(self, sessions: sessionmaker[Session], *, notice_days: int = 14,
                 today: Callable[[], date] = london_today,
                 on_raised: Callable[[int], None] | None = None, flags: bool = False) -> None:
        self.notices = ReviewNotices(sessions, notice_days=notice_days)
        self.today = today
        self.on_raised = on_raised
        self.flags = flags  # also announce O2 and O3 as their windows close

    def run_once(self) -> int:
        """Raise what is due today; the number of events raised."""
        today = self.today()
        raised = 0
        for kind in (EventType.REVIEW_DUE, EventType.REVIEW_OVERDUE):
            while True:
                count = self.notices.raise_due(kind, today, BATCH)
                raised += count
                if count < BATCH:
                    break
        while self.flags:
            count = self.notices.raise_flags(today, BATCH)
            raised += count
            if count < BATCH:
                break
        if raised and self.on_raised is not None:
            self.on_raised(raised)
        return raised

    def run(self, stop: threading.Event, interval: float = 60.0) -> None:
        failures = 0
        while not stop.is_set():
            try:
                raised = self.run_once()
                failures = 0
                if raised:
                    log.info("raised %d review events", raised)
            except DBAPIError as error:
                delay = backoff(failures)
                failures += 1
                log.warning("scheduler: database unavailable (%s); retrying in %.1f s",
                            short(error), delay)
                stop.wait(delay)
                continue
            stop.wait(interval)
