"""ADT events -> register commands, through the sending trust's profile.

| event | commands |
|---|---|
| A01 admit (A04 with PV1-2 `I`) | Admit (first legal status), ChangeLegalStatus, ZMH events |
| A02 transfer | ChangeLegalStatus for each period sent, ZMH events |
| A03 discharge | ChangeLegalStatus for each period sent, ZMH events, Discharge (PV1-45) |
| A04 register (other classes), A28 add, A31 update | UpdatePerson (date of birth, address, GP) |
| A08 update | UpdatePerson, and for a stay (PV1-19) its legal status periods and ZMH events |
| A11 / A13 | CancelAdmission / CancelDischarge |
| A12 cancel transfer | nothing (the register keeps no transfers; correct a legal status with A08) |
| A21 / A22 | StartLeave / EndLeave at EVN-6 |
| A40 merge | MergePatient: PID-3 survives, MRG-1's NHS number is retired |

A death (PID-29) on any event adds RecordDeath. Command ids are `hl7v2:<MSH-4>:<MSH-10>:<n>`,
so a re-sent message is applied once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from mappings.hl7v2 import errors as e
from mappings.hl7v2.errors import Location
from mappings.hl7v2.message import Hl7Message, parse_time
from mappings.hl7v2.profiles import Profile, SegmentLayout
from mappings.keys import message_key
from register import commands as c
from register import legal_status
from register.errors import InvalidData
from register.model import Address, PersonName
from register.nhs_number import normalise, problem

_GSS_LA = re.compile(r"^[EW]0[6-9]\d{6}$|^E10\d{6}$")
_ODS = re.compile(r"^[A-Z0-9]{3,6}$")
NO_FIXED_ABODE = "ZZ99 3VZ"  # the NHS postcode for no fixed abode


@dataclass(frozen=True)
class Decoded:
    message_key: str  # hl7v2:<sender>:<control id>: one message, applied once
    sender: str
    event: str
    nhs_number: str
    commands: list[c.Command]


@dataclass(frozen=True)
class _Period:
    code: str
    start: datetime
    end: datetime | None = None
    restricted: bool = False
    or_la: str | None = None
    application_on: date | None = None


@dataclass(frozen=True)
class _Event:
    word: str
    at: datetime


class _Builder:
    """One message's commands, numbered in order."""

    def __init__(self, message: Hl7Message, profile: Profile, nhs: str) -> None:
        self.m = message
        self.profile = profile
        self.nhs = nhs
        self.occurred_at = message.time("MSH", 7)
        self.commands: list[c.Command] = []

    def add(self, kind: type[c.Command], **values: object) -> None:
        self.commands.append(kind(
            command_id=message_key("hl7v2", self.m.sender, self.m.control_id)
            + f":{len(self.commands)}",
            nhs_number=self.nhs, occurred_at=self.occurred_at, **values))  # type: ignore[arg-type]

    # -- what the message says -----------------------------------------------------------

    def event_time(self) -> datetime:
        when = self.m.time("EVN", 6) or self.m.time("EVN", 2) or self.occurred_at
        if when is None:
            raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                            "the event time is required: EVN-6 (event occurred) or EVN-2",
                            Location("EVN", 6))
        return when

    def stay_ref(self, required: bool = True) -> str | None:
        ref = self.profile.stay_id
        value = self.m.value(ref.segment, ref.field, ref.component).strip()
        if not value and required:
            raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                            f"{ref} visit number is required: it identifies the hospital stay",
                            Location(ref.segment, ref.field))
        return value or None

    def address(self) -> Address | None:
        reps = self.m.repetitions("PID", 11)
        if not reps:
            return None
        chosen = next((r for r in range(1, reps + 1)
                       if self.m.value("PID", 11, 7, r).upper() == "H"), 1)
        lines = [self.m.value("PID", 11, i, chosen).strip() for i in (1, 2, 3, 4)]
        postcode = self.m.value("PID", 11, 5, chosen).strip().upper() or None
        if not postcode and not any(lines):
            return None
        return Address(postcode=postcode, lines=[line for line in lines if line],
                       no_fixed_abode=postcode == NO_FIXED_ABODE)

    def gp(self) -> str | None:
        # XON-10 (v2.5+) or XON-3 (v2.4, as ITK sends it) is the practice's ODS code.
        code = (self.m.value("PD1", 3, 10) or self.m.value("PD1", 3, 3)).strip().upper()
        if code and not _ODS.match(code):
            raise e.content(e.DATA_TYPE_ERROR, "bad-gp-practice",
                            f"GP practice {code!r} is not an ODS code",
                            Location("PD1", 3, component=3))
        return code or None

    def periods(self, default_start: datetime) -> list[_Period]:
        found: list[_Period] = []
        for layout in self.profile.segments:
            found += self._segment_periods(layout)
        if self.profile.zu5:
            found += self._zu5(default_start)
        for source in self.profile.obx:
            for i, _seg in enumerate(self.m.segments("OBX"), start=1):
                if self.m.value("OBX", 3, 1, occurrence=i).strip() != source.observation:
                    continue
                where = Location("OBX", 5, i)
                code = self._code(self.m.value("OBX", 5, 1, occurrence=i), where)
                start = self.m.time("OBX", source.start.field, i, source.start.component)
                found.append(_Period(code, start or default_start))
        unique = {(p.code, p.start): p for p in found}
        return sorted(unique.values(), key=lambda p: p.start)

    def events(self) -> list[_Event]:
        found = []
        for layout in self.profile.segments:
            if layout.event is None:
                continue
            for i in range(1, len(self.m.segments(layout.name)) + 1):
                raw = self.m.value(layout.name, layout.event, occurrence=i)
                if not raw.strip():
                    continue
                word = self.profile.event_word(raw)
                where = Location(layout.name, layout.event, i)
                if word not in ZMH_EVENTS:
                    raise e.content(e.TABLE_VALUE_NOT_FOUND, "unknown-event-code",
                                    f"event {raw.strip()!r} is not one of "
                                    f"{', '.join(ZMH_EVENTS)}", where)
                at = self.m.time(layout.name, layout.start, i)
                if at is None:
                    raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                                    f"the time of the {word} event is required",
                                    Location(layout.name, layout.start, i))
                found.append(_Event(word, at))
        return found

    def _code(self, raw: str, where: Location) -> str:
        if not raw.strip():
            raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                            "the legal status code is required", where)
        try:
            return legal_status.normalise(self.profile.national_code(raw))
        except InvalidData:
            raise e.content(e.TABLE_VALUE_NOT_FOUND, "unknown-legal-status",
                            f"legal status code {raw.strip()!r} is not a Mental Health Act "
                            "legal status classification code for England (NHS Data "
                            "Dictionary)", where) from None

    def _segment_periods(self, layout: SegmentLayout) -> list[_Period]:
        out = []
        for i in range(1, len(self.m.segments(layout.name)) + 1):
            if layout.code is None:
                break
            raw = self.m.value(layout.name, layout.code, occurrence=i)
            if not raw.strip():
                continue  # an event-only segment (e.g. CTO-START)
            code = self._code(raw, Location(layout.name, layout.code, i))
            start = self.m.time(layout.name, layout.start, i)
            if start is None:
                raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                                "the start of the legal status period is required",
                                Location(layout.name, layout.start, i))
            end = self.m.time(layout.name, layout.end, i) if layout.end else None
            or_la = self.m.value(layout.name, layout.or_la, occurrence=i).strip().upper() \
                if layout.or_la else ""
            if or_la and not _GSS_LA.match(or_la):
                raise e.content(e.DATA_TYPE_ERROR, "bad-local-authority",
                                f"{or_la!r} is not a local authority GSS code (E06-E10, W06)",
                                Location(layout.name, layout.or_la, i))
            restricted = layout.restricted is not None and self.m.value(
                layout.name, layout.restricted, occurrence=i).strip().upper() == "Y"
            applied_on = self.m.time(layout.name, layout.application, i) \
                if layout.application else None
            out.append(_Period(code, start, end, restricted, or_la or None,
                               applied_on.date() if applied_on else None))
        return out

    def _zu5(self, default_start: datetime) -> list[_Period]:
        if not self.m.has("ZU5"):
            return []
        on_admission = self.m.value("ZU5", 2).strip()
        at_census = self.m.value("ZU5", 3).strip()
        commenced = self.m.time("ZU5", 5)
        out = []
        if on_admission:
            out.append(_Period(self._code(on_admission, Location("ZU5", 2)),
                               default_start if at_census else commenced or default_start))
        if at_census:
            code = self._code(at_census, Location("ZU5", 3))
            if not out or out[0].code != code:
                out.append(_Period(code, commenced or default_start))
        return out


ZMH_EVENTS: dict[str, type[c.StayCommand]] = {
    "CTO-START": c.StartCto, "CTO-END": c.EndCto, "CTO-RECALL": c.RecallCto,
    "COND-DISCHARGE": c.ConditionalDischarge, "S17-LEAVE": c.StartLeave,
}


def nhs_number(message: Hl7Message, profile: Profile) -> str:
    """The NHS number from PID-3: the repetition whose assigning authority (CX-4) is one the
    profile names (NHS), with identifier type (CX-5) NH/HN or none."""
    if not message.has("PID"):
        raise e.content(e.SEGMENT_SEQUENCE, "missing-segment",
                        "the PID segment (the patient) is missing", Location("PID"))
    return _identifier(message, profile, "PID", 3)


def _identifier(message: Hl7Message, profile: Profile, segment: str, field: int) -> str:
    for r in range(1, message.repetitions(segment, field) + 1):
        authority = message.value(segment, field, 4, r).strip().upper()
        kind = message.value(segment, field, 5, r).strip().upper()
        if authority in profile.assigning_authorities and (
                not kind or kind in profile.identifier_types):
            digits = normalise(message.value(segment, field, 1, r))
            if reason := problem(digits):
                raise e.content(e.DATA_TYPE_ERROR, "invalid-nhs-number",
                                f"the NHS number is not valid: {reason}",
                                Location(segment, field, component=1))
            return digits
    raise e.content(e.REQUIRED_FIELD_MISSING, "missing-nhs-number",
                    f"no NHS number: {segment}-{field} needs a repetition with assigning "
                    f"authority {' or '.join(profile.assigning_authorities)} (CX-4)",
                    Location(segment, field))


# -- events -----------------------------------------------------------------------------------

def _name(b: _Builder) -> PersonName | None:
    """PID-5: the legal name (XPN-7 `L`) if one is marked, else the first; family name
    (XPN-1), given name (XPN-2) and further given names (XPN-3)."""
    reps = b.m.repetitions("PID", 5)
    chosen = next((r for r in range(1, reps + 1)
                   if b.m.value("PID", 5, 7, r).upper() == "L"), 1)
    family = b.m.value("PID", 5, 1, chosen).strip()
    given = [g for g in (b.m.value("PID", 5, i, chosen).strip() for i in (2, 3)) if g]
    return PersonName(family, given) if family else None


def _person(b: _Builder, *, dob_only: bool = False) -> None:
    dob = b.m.day("PID", 7)
    address = None if dob_only else b.address()
    gp = None if dob_only else b.gp()
    name = _name(b)
    if dob or address or gp or name:
        # DESIGN.md: effective from EVN-6, else EVN-2, else MSH-7; the basis names which.
        dated_by = ("EVN-6 (event occurred)" if b.m.time("EVN", 6) else
                    "EVN-2 (recorded), no EVN-6 effective date" if b.m.time("EVN", 2) else
                    "MSH-7 message time, no effective date in EVN")
        b.add(c.UpdatePerson, date_of_birth=dob, address=address, gp_practice=gp,
              name=name, effective=b.event_time().date(), dated_by=dated_by)


def _death(b: _Builder) -> None:
    died = b.m.day("PID", 29)
    if died:
        b.add(c.RecordDeath, died_on=died)


def _statuses(b: _Builder, ref: str, periods: list[_Period]) -> None:
    for p in periods:
        b.add(c.ChangeLegalStatus, trust_ods=b.m.sender, stay_ref=ref, code=p.code,
              start=p.start, end=p.end, restricted=p.restricted, or_la=p.or_la,
              application_on=p.application_on)


def _stay_events(b: _Builder, ref: str) -> None:
    for event in b.events():
        b.add(ZMH_EVENTS[event.word], trust_ods=b.m.sender, stay_ref=ref, at=event.at)


def _admit(b: _Builder) -> None:
    ref = b.stay_ref()
    assert ref is not None
    admitted = b.m.time("PV1", 44) or b.m.time("EVN", 6)
    if admitted is None:
        raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                        "PV1-44 admit date/time is required for an admission",
                        Location("PV1", 44))
    _person(b, dob_only=True)
    periods = b.periods(admitted)
    first = periods[0] if periods else None
    b.add(c.Admit, trust_ods=b.m.sender, stay_ref=ref, admitted_at=admitted,
          legal_status=first.code if first else None,
          legal_status_start=first.start if first else None,
          restricted=first.restricted if first else False,
          residence_before=b.address(), gp_practice=b.gp(),
          or_la=first.or_la if first else None,
          application_on=first.application_on if first else None)
    _statuses(b, ref, periods[1:])
    _stay_events(b, ref)


def _register(b: _Builder) -> None:
    if b.m.value("PV1", 2).strip().upper() == "I":
        _admit(b)  # some PAS register an inpatient admission as A04
        return
    _person(b)
    _death(b)


def _transfer(b: _Builder) -> None:
    ref = b.stay_ref()
    assert ref is not None
    _statuses(b, ref, b.periods(b.event_time()))
    _stay_events(b, ref)


def _discharge(b: _Builder) -> None:
    ref = b.stay_ref()
    assert ref is not None
    discharged = b.m.time("PV1", 45) or b.m.time("EVN", 6)
    if discharged is None:
        raise e.content(e.REQUIRED_FIELD_MISSING, "missing-field",
                        "PV1-45 discharge date/time is required for a discharge",
                        Location("PV1", 45))
    _statuses(b, ref, b.periods(discharged))
    _stay_events(b, ref)
    b.add(c.Discharge, trust_ods=b.m.sender, stay_ref=ref, discharged_at=discharged,
          destination=b.address())
    _death(b)


def _update(b: _Builder) -> None:
    _person(b)
    periods = b.periods(b.event_time())
    events = b.events()
    if periods or events:
        ref = b.stay_ref()
        assert ref is not None
        _statuses(b, ref, periods)
        _stay_events(b, ref)
    _death(b)


def _person_only(b: _Builder) -> None:
    _person(b)
    _death(b)


def _stay_command(kind: type[c.StayCommand]) -> Callable[[_Builder], None]:
    def build(b: _Builder) -> None:
        b.add(kind, trust_ods=b.m.sender, stay_ref=b.stay_ref())
    return build


def _leave(kind: type[c.StartLeave] | type[c.EndLeave]) -> Callable[[_Builder], None]:
    def build(b: _Builder) -> None:
        b.add(kind, trust_ods=b.m.sender, stay_ref=b.stay_ref(), at=b.event_time())
    return build


def _nothing(b: _Builder) -> None:
    """A12: the register records no transfers, so there is nothing to cancel."""


def _merge(b: _Builder) -> None:
    if not b.m.has("MRG"):
        raise e.content(e.SEGMENT_SEQUENCE, "missing-segment",
                        "a merge (A40) needs the MRG segment naming the retired record",
                        Location("MRG"))
    try:
        retired = _identifier(b.m, b.profile, "MRG", 1)
    except e.Hl7Problem as problem:
        if problem.kind != "missing-nhs-number":
            raise
        return  # a merge of local identifiers only: the NHS number, the register's key, stays
    b.add(c.MergePatient, retired_nhs_number=retired)


EVENTS: dict[str, Callable[[_Builder], None]] = {
    "A01": _admit, "A02": _transfer, "A03": _discharge, "A04": _register, "A08": _update,
    "A11": _stay_command(c.CancelAdmission), "A12": _nothing,
    "A13": _stay_command(c.CancelDischarge), "A21": _leave(c.StartLeave),
    "A22": _leave(c.EndLeave), "A28": _person_only, "A31": _person_only, "A40": _merge,
}


def decode(message: Hl7Message, profile: Profile) -> Decoded:
    """The commands an ADT message asks for; Hl7Problem (AE/AR) if it cannot be mapped."""
    if message.processing_id not in profile.processing_ids:
        raise e.reject(e.UNSUPPORTED_PROCESSING_ID, "unsupported-processing-id",
                       f"processing id {message.processing_id or '(none)'} is not accepted "
                       f"from this sender (accepted: {', '.join(profile.processing_ids)})",
                       Location("MSH", 11))
    build = EVENTS.get(message.event)
    if build is None:
        raise e.reject(e.UNSUPPORTED_EVENT, "unsupported-event",
                       f"event {message.event or '(none)'} is not taken: the register takes "
                       f"ADT {', '.join(EVENTS)}", Location("MSH", 9, component=2))
    nhs = nhs_number(message, profile)
    builder = _Builder(message, profile, nhs)
    build(builder)
    return Decoded(message_key("hl7v2", message.sender, message.control_id), message.sender,
                   message.event, nhs, builder.commands)


__all__ = ["Decoded", "decode", "nhs_number", "parse_time"]
