"""A FHIR message Bundle from a trust EPR -> register commands (`$process-message`): the same
commands an HL7 v2 ADT message becomes, so both paths are judged by the same rules.

The Bundle: `type` message, an `id` (with the sender, the message's identity: a re-sent
message is applied once), `timestamp` (when the event happened, for events that carry no
date of their own), the MessageHeader first with `eventCoding` from the s117-event code
system and the trust as `sender` (ODS identifier), then the Patient (NHS number, address,
GP practice) and, for stay events, the Encounter (the trust's visit number as identifier,
period, legal status as UK Core `Extension-UKCore-LegalStatus` and/or the project's legal
status periods). Leave is told apart by Encounter.status: `onleave` starts it, anything else
ends it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir_profiles import canonical as url
from mappings.fhir.common import code_of_reference, extensions, naive_clinical, sub
from register import commands as c
from register import legal_status
from register.errors import InvalidData
from register.model import Address
from register.nhs_number import normalise

Resource = dict[str, Any]
ODS_CODE = re.compile(r"^[A-Z0-9]{3,6}$")


@dataclass(frozen=True)
class Message:
    """What the Bundle says, with the path of each part for error messages."""

    message_id: str
    event: str
    trust: str
    at: datetime
    patient: Resource
    encounter: Resource | None

    def command_id(self, index: int) -> str:
        return f"fhir-message:{self.trust}:{self.message_id}:{index}"


FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def peek(bundle: Any) -> tuple[str | None, str | None]:
    """(sender ODS code, Bundle.id) of a message that may be any shape at all (a refused
    one is still filed by sender), each None unless it is what the contract says."""
    try:
        header = bundle["entry"][0]["resource"]
        found = code_of_reference(header.get("sender"))
    except (KeyError, IndexError, TypeError, AttributeError):
        return None, None
    sender = found if isinstance(found, str) and ODS_CODE.match(found) else None
    ident = bundle.get("id")
    return sender, ident if isinstance(ident, str) and FHIR_ID.fullmatch(ident) else None


def _fail(message: str, where: str) -> InvalidData:
    return InvalidData(message, field=where)


def _when(value: str | None, where: str) -> datetime:
    if not value:
        raise _fail("a date and time is required here", where)
    try:
        return naive_clinical(value)
    except ValueError:
        raise _fail(f"{value!r} is not a FHIR dateTime", where) from None


def read(bundle: Resource) -> Message:
    if bundle.get("type") != "message":
        raise _fail("$process-message takes a Bundle of type message", "Bundle.type")
    entries = [e.get("resource") or {} for e in bundle.get("entry") or []]
    if not entries or entries[0].get("resourceType") != "MessageHeader":
        raise _fail("the first entry must be the MessageHeader", "Bundle.entry[0]")
    header = entries[0]
    coding = header.get("eventCoding") or {}
    if coding.get("system") != url.CS_EVENT or coding.get("code") not in EVENTS:
        raise _fail(f"eventCoding must be one of {', '.join(EVENTS)} from {url.CS_EVENT}",
                    "Bundle.entry[0].resource.eventCoding")
    trust = code_of_reference(header.get("sender"))
    if not trust or not ODS_CODE.match(trust):
        raise _fail("the sender must be the trust, with its ODS code",
                    "Bundle.entry[0].resource.sender")
    message_id = bundle.get("id") or header.get("id")
    if not message_id:
        raise _fail("the message needs an id (Bundle.id) so a re-send is applied once",
                    "Bundle.id")
    patients = [r for r in entries if r.get("resourceType") == "Patient"]
    encounters = [r for r in entries if r.get("resourceType") == "Encounter"]
    if len(patients) != 1:
        raise _fail("the message must carry exactly one Patient", "Bundle.entry")
    if len(encounters) > 1:
        raise _fail("the message may carry at most one Encounter", "Bundle.entry")
    return Message(message_id, coding["code"], trust,
                   _when(bundle.get("timestamp"), "Bundle.timestamp"), patients[0],
                   encounters[0] if encounters else None)


def _nhs_number(patient: Resource) -> str:
    found = [i.get("value") for i in patient.get("identifier") or []
             if i.get("system") == url.NHS_NUMBER]
    if len(found) != 1:
        raise _fail("the Patient needs one NHS number", "Patient.identifier")
    return normalise(str(found[0]))


def _address(patient: Resource) -> Address | None:
    homes = patient.get("address") or []
    if not homes:
        return None
    a = homes[0]
    return Address(postcode=a.get("postalCode"), lines=list(a.get("line") or []),
                   no_fixed_abode=a.get("text") == "No fixed abode")


def _gp(patient: Resource) -> str | None:
    gps = patient.get("generalPractitioner") or []
    return code_of_reference(gps[0]) if gps else None


def _stay(message: Message) -> tuple[Resource, str]:
    encounter = message.encounter
    if encounter is None:
        raise _fail(f"a {message.event} message needs the Encounter (the stay)", "Encounter")
    refs = [i.get("value") for i in encounter.get("identifier") or [] if i.get("value")]
    if not refs:
        raise _fail("the Encounter needs the trust's visit number as identifier",
                    "Encounter.identifier")
    # The register's own stay identifier is "<trust>/<visit>"; a trust sends the visit only.
    return encounter, str(refs[0]).removeprefix(f"{message.trust}/")


@dataclass(frozen=True)
class _Status:
    code: str
    start: datetime
    end: datetime | None
    restricted: bool


def _code(concept: Resource | None, where: str) -> str:
    codings = (concept or {}).get("coding") or []
    if not codings or not codings[0].get("code"):
        raise _fail("a legal status code is required", where)
    try:
        return legal_status.normalise(str(codings[0]["code"]))
    except InvalidData:
        raise _fail(f"{codings[0]['code']!r} is not an England legal status code",
                    where) from None


def _statuses(encounter: Resource) -> list[_Status]:
    """The project's legal status periods if given, else UK Core's admission status."""
    out = []
    for i, e in enumerate(extensions(encounter, url.EXT_LEGAL_STATUS_PERIOD)):
        where = f"Encounter.extension[{i}]"
        period = (sub(e, "period") or {}).get("valuePeriod") or {}
        restricted = sub(e, "restricted")
        out.append(_Status(_code((sub(e, "code") or {}).get("valueCodeableConcept"), where),
                           _when(period.get("start"), f"{where}.period.start"),
                           _when(period["end"], f"{where}.period.end")
                           if period.get("end") else None,
                           bool(restricted and restricted.get("valueBoolean"))))
    if out:
        return sorted(out, key=lambda s: s.start)
    for e in extensions(encounter, url.UKCORE_LEGAL_STATUS):
        context = (sub(e, "legalStatusContext") or {}).get("valueCodeableConcept") or {}
        if any(c.get("code") == "admission" for c in context.get("coding") or []):
            start = (encounter.get("period") or {}).get("start")
            concept = (sub(e, "legalStatusClassification") or {}).get("valueCodeableConcept")
            return [_Status(_code(concept, "Encounter.extension"),
                            _when(start, "Encounter.period.start"), None, False)]
    return []


def _admission(m: Message, nhs: str) -> list[c.Command]:
    encounter, ref = _stay(m)
    statuses = _statuses(encounter)
    first = statuses[0] if statuses else None
    out: list[c.Command] = [c.Admit(
        command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at, trust_ods=m.trust,
        stay_ref=ref, admitted_at=_when((encounter.get("period") or {}).get("start"),
                                        "Encounter.period.start"),
        legal_status=first.code if first else None,
        legal_status_start=first.start if first else None,
        restricted=first.restricted if first else False,
        residence_before=_address(m.patient), gp_practice=_gp(m.patient))]
    out += _changes(m, nhs, ref, statuses[1:], start_index=1)
    return out


def _changes(m: Message, nhs: str, ref: str, statuses: list[_Status],
             start_index: int = 0) -> list[c.Command]:
    return [c.ChangeLegalStatus(command_id=m.command_id(start_index + i), nhs_number=nhs,
                                occurred_at=m.at, trust_ods=m.trust, stay_ref=ref,
                                code=s.code, start=s.start, end=s.end, restricted=s.restricted)
            for i, s in enumerate(statuses)]


def _legal_status_change(m: Message, nhs: str) -> list[c.Command]:
    encounter, ref = _stay(m)
    statuses = _statuses(encounter)
    if not statuses:
        raise _fail("a legal-status-change message needs the legal status periods",
                    "Encounter.extension")
    return _changes(m, nhs, ref, statuses)


def _leave(m: Message, nhs: str) -> list[c.Command]:
    encounter, ref = _stay(m)
    kind: type[c.StartLeave] | type[c.EndLeave] = \
        c.StartLeave if encounter.get("status") == "onleave" else c.EndLeave
    return [kind(command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at,
                 trust_ods=m.trust, stay_ref=ref, at=m.at)]


def _at_stay(kind: type[c.StartCto] | type[c.EndCto] | type[c.ConditionalDischarge]
             ) -> Callable[[Message, str], list[c.Command]]:
    def build(m: Message, nhs: str) -> list[c.Command]:
        _, ref = _stay(m)
        return [kind(command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at,
                     trust_ods=m.trust, stay_ref=ref, at=m.at)]
    return build


def _discharge(m: Message, nhs: str) -> list[c.Command]:
    encounter, ref = _stay(m)
    return [c.Discharge(command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at,
                        trust_ods=m.trust, stay_ref=ref,
                        discharged_at=_when((encounter.get("period") or {}).get("end"),
                                            "Encounter.period.end"),
                        destination=_address(m.patient))]


def _death(m: Message, nhs: str) -> list[c.Command]:
    died = m.patient.get("deceasedDateTime")
    if not died:
        raise _fail("a death message needs Patient.deceasedDateTime", "Patient.deceased")
    return [c.RecordDeath(command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at,
                          died_on=date.fromisoformat(died[:10]))]


def _merge(m: Message, nhs: str) -> list[c.Command]:
    retired = [(link.get("other") or {}).get("identifier", {}).get("value")
               for link in m.patient.get("link") or [] if link.get("type") == "replaces"]
    if len(retired) != 1 or not retired[0]:
        raise _fail("a merge message names the retired NHS number once, as Patient.link "
                    "type replaces with other.identifier", "Patient.link")
    return [c.MergePatient(command_id=m.command_id(0), nhs_number=nhs, occurred_at=m.at,
                           retired_nhs_number=str(retired[0]))]


EVENTS: dict[str, Callable[[Message, str], list[c.Command]]] = {
    "admission": _admission,
    "legal-status-change": _legal_status_change,
    "leave": _leave,
    "cto-start": _at_stay(c.StartCto),
    "cto-end": _at_stay(c.EndCto),
    "conditional-discharge": _at_stay(c.ConditionalDischarge),
    "discharge": _discharge,
    "death": _death,
    "merge": _merge,
}


def commands(bundle: Resource) -> tuple[Message, list[c.Command]]:
    message = read(bundle)
    return message, EVENTS[message.event](message, _nhs_number(message.patient))
