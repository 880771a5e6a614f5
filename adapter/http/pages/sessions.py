"""Server-side sessions for the pages (issue 20): the cookie holds only a random id; who is
signed in, until when, and the CSRF token are kept in `page_session`
(register/store/page_sessions.py). Signing out deletes the row, so a copied cookie is
worthless afterwards; a session ends when the token it was made from expires; signing in
gives a new id (against session fixation)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from register.store.dialect import utcnow
from register.store.page_sessions import PageSessions

# A visitor who has not signed in (the sign-in form's CSRF token) is kept this long.
ANONYMOUS = timedelta(hours=1)
EXPIRES = "expires"  # the session's end, seconds since the epoch (the token's exp)
ID_TOKEN = "oidc_id_token"  # an OpenID Connect sign-in's ID token, for signing out there


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, sid: str | None = None
                 ) -> None:
        def changed(_: Any) -> None:
            self.modified = True

        super().__init__(initial, changed)
        self.sid = sid
        self.modified = False
        self.rotate = False  # a new id at the next save (signing in)


class ServerSessions(SessionInterface):
    def __init__(self, store: PageSessions) -> None:
        self.store = store

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        data = self.store.get(sid, utcnow()) if sid else None
        return ServerSession(data, sid) if data is not None else ServerSession()

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        assert isinstance(session, ServerSession)
        name, path = self.get_cookie_name(app), self.get_cookie_path(app)
        domain = self.get_cookie_domain(app)
        if not session:
            if session.sid:  # signed out: the row goes, the cookie with it
                self.store.end(session.sid)
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.sid and not session.modified and not session.rotate:
            return
        if session.rotate and session.sid:
            self.store.end(session.sid)
            session.sid = None
        session.sid = session.sid or secrets.token_urlsafe(32)
        now = utcnow()
        ends = datetime.utcfromtimestamp(session[EXPIRES]) if EXPIRES in session \
            else now + ANONYMOUS
        self.store.put(session.sid, dict(session), now, ends)
        response.set_cookie(name, session.sid, expires=None, path=path, domain=domain,
                            secure=self.get_cookie_secure(app),
                            httponly=self.get_cookie_httponly(app),
                            samesite=self.get_cookie_samesite(app))
