"""Reading and writing the pages' server-side sessions (register/store/session_tables.py)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from register.store.session_tables import PageSessionRow


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class PageSessions:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def get(self, session_id: str, now: datetime) -> dict[str, Any] | None:
        """The session's data, or None if there is no such session or it has ended."""
        with self.sessions() as session:
            row = session.get(PageSessionRow, _digest(session_id))
            if row is None or row.expires_at <= now:
                return None
            return json.loads(row.data)

    def put(self, session_id: str, data: dict[str, Any], now: datetime,
            expires_at: datetime) -> None:
        with self.sessions() as session:
            row = session.get(PageSessionRow, _digest(session_id))
            if row is None:
                session.add(PageSessionRow(id_digest=_digest(session_id),
                                           data=json.dumps(data), created_at=now,
                                           expires_at=expires_at))
            else:
                row.data, row.expires_at = json.dumps(data), expires_at
            # Ended sessions go as new ones come, so the table stays the size of who is
            # signed in.
            session.execute(delete(PageSessionRow).where(PageSessionRow.expires_at <= now))
            session.commit()

    def end(self, session_id: str) -> None:
        with self.sessions() as session:
            session.execute(delete(PageSessionRow).where(
                PageSessionRow.id_digest == _digest(session_id)))
            session.commit()

    def count(self) -> int:
        with self.sessions() as session:
            return len(session.scalars(select(PageSessionRow.id_digest)).all())
