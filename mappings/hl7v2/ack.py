"""Original-mode acknowledgements (HL7 v2 chapter 2): MSA-1 AA, AE or AR, and for AE/AR an ERR
segment saying what is wrong and where, in words a trust analyst understands.

ERR carries the location twice, for old and new readers: ERR-1 (ELD, v2.4) and ERR-2 (ERL,
v2.5+), then ERR-3 the HL7 table 0357 code, ERR-4 severity E, ERR-8 the reason. MSA-3 repeats
the reason (cut to the 80 characters v2.4 allows), because many engines show only MSA.
"""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
from hl7.util import generate_message_control_id

from mappings.hl7v2.errors import CODE_TEXT, Hl7Problem
from mappings.hl7v2.message import Hl7Message

APPLICATION = "S117-REGISTER"
_TEMPLATE = "MSH|^~\\&|{app}|{app}|||{now}||ACK|{id}|P|2.4\rMSA|{code}|{control}"
_ESCAPE = hl7.parse("MSH|^~\\&|X")


def _escape(text: str) -> str:
    return _ESCAPE.escape(text.replace("\r", " ").replace("\n", " "))


def _err(problem: Hl7Problem) -> str:
    where = problem.where
    seg = where.segment if where else ""
    occurrence = str(where.occurrence) if where else ""
    fld = str(where.field) if where and where.field is not None else ""
    comp = str(where.component) if where and where.component is not None else ""
    code_text = CODE_TEXT.get(problem.code, "")
    reason = _escape(problem.reason)
    eld = f"{seg}^{occurrence}^{fld}^{problem.code}&{code_text}&HL70357" if where else \
        f"^^^{problem.code}&{code_text}&HL70357"
    erl = f"{seg}^{occurrence}^{fld}^{comp}" if where else ""
    return f"ERR|{eld}|{erl}|{problem.code}^{code_text}^HL70357|E||||{reason}"


def _control_id_of(raw: bytes) -> str:
    """MSH-10 of a message the parser could not read, so the sender can still match the
    ACK to what it sent: the first line, split by its own field separator."""
    first = raw[:4096].decode("latin-1").replace("\n", "\r").split("\r", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return ""
    fields = first.split(first[3])
    return fields[9][:50] if len(fields) > 9 else ""


def _library_ack(message: Hl7Message, code: str) -> str | None:
    """The hl7 library's ACK (it swaps sender and receiver and echoes type and version), or
    None where its MSH is too broken for the library (an MSH-9 without components makes
    `create_ack` raise): the caller then answers from the raw bytes, as for a message that
    did not parse, rather than not at all."""
    original = message.parsed
    try:
        reply = original.create_ack(code, message_id=generate_message_control_id(),
                                    application=original.extract_field("MSH", 1, 5) or
                                    APPLICATION)
    except (TypeError, IndexError, KeyError):
        return None
    return str(reply).rstrip("\r")


def ack(message: Hl7Message | None, code: str, problem: Hl7Problem | None = None,
        raw: bytes = b"") -> bytes:
    """The ACK for `message` (or, if it could not be parsed, for the raw bytes)."""
    text = _library_ack(message, code) if message is not None else None
    if text is None:
        raw = raw or (str(message.parsed).encode("utf-8") if message is not None else b"")
        text = _TEMPLATE.format(app=APPLICATION, now=datetime.now(UTC).strftime("%Y%m%d%H%M%S"),
                                id=generate_message_control_id(), code=code,
                                control=_escape(_control_id_of(raw)))
    if problem is not None:
        text += f"|{_escape(problem.reason[:80])}\r{_err(problem)}"
    return text.encode("utf-8")
