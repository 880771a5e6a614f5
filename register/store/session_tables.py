"""The staff pages' sessions, kept on the server (issue 20): the browser's cookie holds only a
random id, of which the table keeps a SHA-256 digest (so a copy of the table signs no one
in). A row ends at sign-out and when the token it was made from expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from register.store.base import Base


class PageSessionRow(Base):
    __tablename__ = "page_session"

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[str] = mapped_column(Text)  # JSON: who signed in, the CSRF token
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime, index=True)
