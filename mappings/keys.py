"""Message keys: the id a message has on the inbound bus, in the inbox of applied commands
and in quarantine, made here and nowhere else. A key names the channel, the sender and the
sender's own id for the message (MSH-10, the FHIR message's Bundle id, a council file's
digest), so a message sent again is recognised; bytes that name no message are keyed by
their digest. No patient identifier is ever part of a key."""

from __future__ import annotations

import hashlib


def message_key(channel: str, sender: str, ident: str) -> str:
    return f"{channel}:{sender}:{ident}"


def digest_key(channel: str, body: bytes) -> str:
    """A message key for bytes that name no message (garbage, unparseable)."""
    return message_key(channel, "?", hashlib.sha256(body).hexdigest()[:32])
