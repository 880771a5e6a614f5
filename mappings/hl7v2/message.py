"""Reading one HL7 v2 message (ER7, the bytes inside an MLLP frame or an HTTP body) with the
PyPI `hl7` parser, and checking its header before anything is mapped.

Segments are separated by CR; LF and CRLF are accepted too (files and some engines use them).
Text is UTF-8 unless MSH-18 names ISO 8859-1/15. The field separator must be `|` and the
encoding characters in MSH-2 `^~\\&` (v2.7 and later may add the truncation character `#`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import hl7
from hl7.exceptions import ParseException

from mappings.hl7v2 import errors as e
from mappings.hl7v2.errors import Location

LONDON = ZoneInfo("Europe/London")
_ODS = re.compile(r"^[A-Z0-9]{3,6}$")
SUPPORTED_VERSIONS = ("2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2",
                      "2.9")
_CHARSETS = {"8859/1": "latin-1", "8859/15": "iso8859-15", "UNICODE UTF-8": "utf-8",
             "UNICODE": "utf-8", "ASCII": "ascii", "": "utf-8"}


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Not UTF-8: the header is ASCII in every character set HL7 allows, so MSH-18 can be read
    # from a Latin-1 view and says which character set the sender used.
    latin = raw.decode("latin-1")
    first = latin.replace("\r\n", "\r").replace("\n", "\r").split("\r", 1)[0]
    fields = first.split(first[3:4] or "|") if first.startswith("MSH") else []
    charset = fields[17].strip().upper() if len(fields) > 17 else ""
    if charset in ("8859/1", "8859/15"):
        return raw.decode(_CHARSETS[charset])
    raise e.reject(e.DATA_TYPE_ERROR, "not-text",
                   "the message is not UTF-8 text and MSH-18 does not name ISO 8859-1 or "
                   "8859-15: it cannot be read", Location("MSH", 18))


def _check_header(text: str) -> None:
    if not text.startswith("MSH"):
        raise e.reject(e.SEGMENT_SEQUENCE, "not-hl7",
                       "this is not an HL7 v2 message: it must start with an MSH segment",
                       Location("MSH"))
    separator = text[3:4]
    if separator != "|":
        raise e.reject(e.DATA_TYPE_ERROR, "encoding-characters",
                       f"MSH-1 field separator {separator!r} is not '|'", Location("MSH", 1))
    encoding = text[4:].split(separator, 1)[0]
    # HL7 allows other characters, but NHS ITK and every sender seen use these; anything else
    # is far more often a mangled header than a choice, and would be read wrongly.
    if encoding not in ("^~\\&", "^~\\&#"):
        raise e.reject(e.DATA_TYPE_ERROR, "encoding-characters",
                       f"MSH-2 encoding characters {encoding[:10]!r} are not ^~\\& (v2.7 "
                       "and later may add #): the message cannot be read reliably",
                       Location("MSH", 2))


@dataclass(frozen=True)
class Hl7Message:
    parsed: hl7.Message
    text: str

    # -- access that never raises: an absent field is "" ---------------------------------

    def segments(self, name: str) -> list[hl7.Segment]:
        return [s for s in self.parsed if str(s[0]) == name]

    def has(self, name: str) -> bool:
        return bool(self.segments(name))

    def value(self, segment: str, field: int, component: int = 1, repetition: int = 1,
              occurrence: int = 1) -> str:
        found = self.segments(segment)
        if len(found) < occurrence:
            return ""
        return component_of(found[occurrence - 1], field, component, repetition)

    def repetitions(self, segment: str, field: int, occurrence: int = 1) -> int:
        found = self.segments(segment)
        if len(found) < occurrence:
            return 0
        seg = found[occurrence - 1]
        if field >= len(seg) or not str(seg[field]):
            return 0
        reps = [r for r in seg[field] if isinstance(r, hl7.Repetition)]
        return len(reps) or 1

    # -- the header ----------------------------------------------------------------------

    @property
    def sender(self) -> str:
        return self.value("MSH", 4).strip().upper()

    @property
    def control_id(self) -> str:
        return self.value("MSH", 10).strip()

    @property
    def message_type(self) -> str:
        return self.value("MSH", 9, 1).strip().upper()

    @property
    def event(self) -> str:
        return (self.value("MSH", 9, 2) or self.value("EVN", 1)).strip().upper()

    @property
    def version(self) -> str:
        return self.value("MSH", 12).strip()

    @property
    def processing_id(self) -> str:
        return self.value("MSH", 11).strip().upper()

    def time(self, segment: str, field: int, occurrence: int = 1,
             component: int = 1) -> datetime | None:
        raw = self.value(segment, field, component, occurrence=occurrence).strip()
        if not raw:
            return None
        return parse_time(raw, Location(segment, field, occurrence))

    def day(self, segment: str, field: int) -> date | None:
        moment = self.time(segment, field)
        return moment.date() if moment else None


def component_of(segment: hl7.Segment, field: int, component: int = 1,
                 repetition: int = 1) -> str:
    """Field `field`, component and repetition (1-based, HL7 numbering) of a parsed segment;
    "" when absent. The parser numbers MSH as HL7 does (MSH-1 is the field separator)."""
    if field >= len(segment):
        return ""
    item = segment[field]
    if not isinstance(item, hl7.Field):
        return str(item) if component == 1 and repetition == 1 else ""
    reps = [r for r in item if isinstance(r, hl7.Repetition)]
    if not reps:  # a plain value: no components, no repetitions
        return str(item[0]) if component == 1 and repetition == 1 and len(item) else ""
    if repetition > len(reps) or component > len(reps[repetition - 1]):
        return ""
    part = reps[repetition - 1][component - 1]
    return part if isinstance(part, str) else str(part[0]) if len(part) else ""


def parse_time(raw: str, where: Location) -> datetime:
    """An HL7 TS/DTM as naive UK local time (the register's convention): an offset, if
    given, is converted to Europe/London."""
    try:
        moment = hl7.parse_datetime(raw)
    except ValueError:
        moment = None
    if moment is None:
        raise e.content(e.DATA_TYPE_ERROR, "bad-timestamp",
                        f"{raw!r} is not an HL7 date/time (YYYYMMDD[HHMM[SS]][+ZZZZ])",
                        where)
    if moment.tzinfo is not None:
        moment = moment.astimezone(LONDON).replace(tzinfo=None)
    return moment


def read(raw: bytes) -> Hl7Message:
    """Parse and check the header; raise Hl7Problem (AR) if the register cannot take it."""
    text = _text(raw).replace("\r\n", "\r").replace("\n", "\r").strip("\r\n \t\x00")
    _check_header(text)
    try:
        parsed = hl7.parse(text)
    except (ParseException, IndexError, ValueError) as exc:
        raise e.reject(e.SEGMENT_SEQUENCE, "unparseable",
                       f"the message cannot be parsed as HL7 v2 ({exc})") from None
    message = Hl7Message(parsed, text)
    bad_segment = next((str(s[0]) for s in parsed
                        if not (len(str(s[0])) == 3 and str(s[0]).isalnum()
                                and str(s[0]).isupper())), None)
    if bad_segment is not None:
        raise e.reject(e.SEGMENT_SEQUENCE, "unparseable",
                       f"{bad_segment[:20]!r} is not a segment name: segments must be "
                       "separated by carriage returns and start with three capitals")
    if not message.control_id:
        raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                        "MSH-10 message control id is required: with MSH-4 it identifies "
                        "the message, so a re-send is applied once", Location("MSH", 10))
    if not message.sender:
        raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                        "MSH-4 sending facility must be the trust's ODS code",
                        Location("MSH", 4))
    if not _ODS.match(message.sender):
        raise e.content(e.DATA_TYPE_ERROR, "bad-sender",
                        f"MSH-4 sending facility {message.sender[:20]!r} is not an ODS code "
                        "(3 to 6 capitals and digits)", Location("MSH", 4))
    if len(message.control_id) > 100:
        raise e.content(e.DATA_TYPE_ERROR, "bad-control-id",
                        "MSH-10 message control id is longer than 100 characters",
                        Location("MSH", 10))
    if message.version not in SUPPORTED_VERSIONS:
        raise e.reject(e.UNSUPPORTED_VERSION, "unsupported-version",
                       f"HL7 version {message.version or '(none)'} is not supported: send "
                       "2.4 (NHS ITK) or later", Location("MSH", 12))
    if message.message_type != "ADT":
        raise e.reject(e.UNSUPPORTED_MESSAGE_TYPE, "unsupported-message-type",
                       f"message type {message.message_type or '(none)'} is not taken: the "
                       "register takes ADT messages", Location("MSH", 9, component=1))
    return message
