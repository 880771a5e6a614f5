"""What is wrong with an HL7 v2 message, in words a trust analyst understands, and where.

`ack` is what the sender gets: AE for content it can correct (a missing field, an invalid NHS
number, an unknown legal status code), AR for a message the register does not take at all
(unparseable, unsupported event or version). `code` is HL7 table 0357; `kind` is a short
identifier-free label safe for logs and AMQP headers (the reason text may quote the message).
"""

from __future__ import annotations

from dataclasses import dataclass

# HL7 table 0357 (message error condition codes) used here.
SEGMENT_SEQUENCE = 100
REQUIRED_FIELD_MISSING = 101
DATA_TYPE_ERROR = 102
TABLE_VALUE_NOT_FOUND = 103
UNSUPPORTED_MESSAGE_TYPE = 200
UNSUPPORTED_EVENT = 201
UNSUPPORTED_PROCESSING_ID = 202
UNSUPPORTED_VERSION = 203
APPLICATION_ERROR = 207

CODE_TEXT = {
    SEGMENT_SEQUENCE: "Segment sequence error",
    REQUIRED_FIELD_MISSING: "Required field missing",
    DATA_TYPE_ERROR: "Data type error",
    TABLE_VALUE_NOT_FOUND: "Table value not found",
    UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    UNSUPPORTED_EVENT: "Unsupported event code",
    UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    UNSUPPORTED_VERSION: "Unsupported version id",
    APPLICATION_ERROR: "Application internal error",
}


@dataclass(frozen=True)
class Location:
    """Segment, its occurrence (1-based), field and component, as in `PID-3` or `ZMH[2]-1`."""

    segment: str
    field: int | None = None
    occurrence: int = 1
    component: int | None = None

    def __str__(self) -> str:
        text = self.segment + (f"[{self.occurrence}]" if self.occurrence > 1 else "")
        if self.field is not None:
            text += f"-{self.field}"
            if self.component is not None:
                text += f".{self.component}"
        return text


class Hl7Problem(Exception):
    def __init__(self, ack: str, code: int, kind: str, reason: str,
                 where: Location | None = None) -> None:
        super().__init__(reason)
        self.ack = ack
        self.code = code
        self.kind = kind
        self.reason = reason
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}" if self.where else self.reason


def content(code: int, kind: str, reason: str, where: Location | None = None) -> Hl7Problem:
    """A correctable content error: ACK AE."""
    return Hl7Problem("AE", code, kind, reason, where)


def reject(code: int, kind: str, reason: str, where: Location | None = None) -> Hl7Problem:
    """A message the register does not take: ACK AR."""
    return Hl7Problem("AR", code, kind, reason, where)
