"""Entitlement <-> S117Entitlement (UK Core EpisodeOfCare): status and its history, the
responsible local authority and ICB with the rules that chose them, earlier determinations,
where the person lives now, review state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from fhir.resources.R4B.episodeofcare import EpisodeOfCare

from fhir_profiles import canonical as url
from mappings.fhir.common import (
    NameOf,
    code_of_reference,
    day,
    ext,
    extension,
    extensions,
    meta,
    org_identifier,
    org_reference,
    sub,
)
from register.model import DisputeStatus, EntitlementStatus, RuleApplied
from register.ports import StoredEntitlement

TO_FHIR_STATUS = {EntitlementStatus.PLANNED: "planned", EntitlementStatus.ACTIVE: "active",
                  EntitlementStatus.ENDED: "finished", EntitlementStatus.CANCELLED: "cancelled"}
FROM_FHIR_STATUS = {v: k for k, v in TO_FHIR_STATUS.items()}
EPISODE_TYPE = {"system": url.CS_EPISODE_TYPE, "code": "s117-aftercare",
                "display": "Section 117 aftercare"}


@dataclass(frozen=True)
class Period:
    """One responsibility determination in force from `effective_from`."""

    effective_from: date
    rule_set: str
    local_authority: str | None
    icb: str | None


@dataclass(frozen=True)
class EntitlementView:
    """What S117Entitlement carries (the round-trip unit of the mapping tests)."""

    id: str
    person_id: int
    status: EntitlementStatus
    planned_on: date
    ended_on: date | None
    status_history: tuple[tuple[EntitlementStatus, date], ...]
    local_authority: str | None
    icb: str | None
    commissioning_body: tuple[str | None, str | None] | None  # (original CCG, successor ICB)
    paying_body: tuple[str | None, str | None] | None
    rule_set: str | None
    basis: tuple[RuleApplied, ...]
    determinations: tuple[Period, ...]
    residence_la: str | None
    needs_review: tuple[str, ...]
    next_review_due: date | None
    disputes: tuple[DisputeView, ...] = ()
    care_coordinator: str | None = None


@dataclass(frozen=True)
class DisputeView:
    """An ordinary-residence dispute as the EpisodeOfCare shows it (rule L5)."""

    status: DisputeStatus
    parties: tuple[str, ...]
    interim_lead: str
    opened: date
    resolved: date | None


# The Dispute extension's status codes (open | referred | resolved).
DISPUTE_CODES = {DisputeStatus.OPEN: "open", DisputeStatus.REFERRED: "referred",
                 DisputeStatus.RESOLVED: "resolved"}
FROM_DISPUTE_CODES = {v: k for k, v in DISPUTE_CODES.items()}


def view_of(stored: StoredEntitlement) -> EntitlementView:
    ent = stored.entitlement
    cur = ent.current
    return EntitlementView(
        id=ent.id, person_id=stored.person_id, status=ent.status, planned_on=ent.planned_on,
        ended_on=ent.ended_on,
        status_history=tuple((c.status, c.on) for c in ent.status_history),
        local_authority=cur.local_authority if cur else None, icb=cur.icb if cur else None,
        commissioning_body=(cur.commissioning_body, cur.icb)
        if cur and cur.commissioning_body else None,
        paying_body=(cur.paying_body, cur.paying_icb) if cur and cur.paying_body else None,
        rule_set=cur.rule_set if cur else None, basis=cur.basis if cur else (),
        determinations=tuple(Period(r.effective_from, r.rule_set, r.local_authority, r.icb)
                             for r in ent.responsibilities),
        residence_la=stored.residence_la, needs_review=tuple(ent.needs_review),
        next_review_due=stored.next_review_due,
        disputes=tuple(DisputeView(d.status, tuple(d.parties), d.interim_lead, d.opened_on,
                                   d.resolved_on) for d in ent.disputes),
        care_coordinator=ent.care_coordinator)


def _body(url_: str, original: str | None, successor: str | None) -> dict[str, Any]:
    parts = [ext("original", valueIdentifier=org_identifier(original))] if original else []
    if successor:
        parts.append(ext("successor", valueIdentifier=org_identifier(successor)))
    return ext(url_, extension=parts)


def _period(p: Period, until: date | None) -> dict[str, Any]:
    parts = [ext("period", valuePeriod={"start": p.effective_from.isoformat(),
                                         **({"end": until.isoformat()} if until else {})}),
             ext("rule-set", valueCode=p.rule_set)]
    if p.local_authority:
        parts.append(ext("local-authority", valueIdentifier=org_identifier(p.local_authority)))
    if p.icb:
        parts.append(ext("icb", valueIdentifier=org_identifier(p.icb)))
    return ext(url.EXT_RESPONSIBILITY_PERIOD, extension=parts)


def basis_extension(step: RuleApplied) -> dict[str, Any]:
    return ext(url.EXT_RESPONSIBILITY_BASIS, extension=[
        ext("rule", valueCoding={"system": url.CS_RULE, "code": step.rule_id}),
        ext("reason", valueString=step.reason), ext("citation", valueString=step.citation)])


def _extensions(v: EntitlementView, name_of: NameOf) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if v.local_authority:
        out.append(ext(url.EXT_RESPONSIBLE_LA,
                       valueReference=org_reference(v.local_authority, name_of)))
    if v.icb:
        out.append(ext(url.EXT_RESPONSIBLE_ICB, valueReference=org_reference(v.icb, name_of)))
    if v.commissioning_body:
        out.append(_body(url.EXT_COMMISSIONING_BODY, *v.commissioning_body))
    if v.paying_body:
        out.append(_body(url.EXT_PAYING_BODY, *v.paying_body))
    if v.rule_set:
        out.append(ext(url.EXT_RULE_SET, valueCode=v.rule_set))
    out += [basis_extension(step) for step in v.basis]
    # Each determination holds until the next one starts; the last has no end.
    ends: list[date | None] = [p.effective_from for p in v.determinations[1:]]
    if v.determinations:
        ends.append(None)
    out += [_period(p, until) for p, until in zip(v.determinations, ends, strict=True)]
    if v.residence_la:
        out.append(ext(url.EXT_RESIDENCE_LA, valueIdentifier=org_identifier(v.residence_la)))
    out += [ext(url.EXT_NEEDS_REVIEW, valueString=reason) for reason in v.needs_review]
    if v.next_review_due:
        out.append(ext(url.EXT_NEXT_REVIEW_DUE, valueDate=v.next_review_due.isoformat()))
    out += [_dispute(d) for d in v.disputes]
    return out


def _dispute(d: DisputeView) -> dict[str, Any]:
    parts = [ext("status", valueCode=DISPUTE_CODES[d.status]),
             *(ext("party", valueIdentifier=org_identifier(p)) for p in d.parties),
             ext("interim-lead", valueIdentifier=org_identifier(d.interim_lead)),
             ext("opened", valueDate=d.opened.isoformat())]
    if d.resolved:
        parts.append(ext("resolved", valueDate=d.resolved.isoformat()))
    return ext(url.EXT_DISPUTE, extension=parts)


def to_json(stored: StoredEntitlement, name_of: NameOf) -> dict[str, Any]:
    v = view_of(stored)
    history = list(v.status_history)
    ends = [on for _, on in history[1:]] + [None]
    data: dict[str, Any] = {
        "resourceType": "EpisodeOfCare", "id": v.id,
        "meta": meta(stored.version, stored.updated_at, url.ENTITLEMENT),
        "status": TO_FHIR_STATUS[v.status],
        "type": [{"coding": [EPISODE_TYPE], "text": "Section 117 aftercare"}],
        "patient": {"reference": f"Patient/{v.person_id}"},
        "period": {"start": v.planned_on.isoformat(),
                   **({"end": v.ended_on.isoformat()} if v.ended_on else {})},
    }
    if extensions_ := _extensions(v, name_of):  # FHIR JSON has no empty arrays
        data["extension"] = extensions_
    if history:
        data["statusHistory"] = [
            {"status": TO_FHIR_STATUS[status],
             "period": {"start": on.isoformat(), **({"end": day(end)} if end else {})}}
            for (status, on), end in zip(history, ends, strict=True)]
    if v.local_authority:
        data["managingOrganization"] = org_reference(v.local_authority, name_of)
    if v.care_coordinator:
        # The plan's care coordinator, by name (the CarePlan's CareTeam has the rest).
        data["careManager"] = {"display": v.care_coordinator}
    return data


def to_fhir(stored: StoredEntitlement, name_of: NameOf) -> EpisodeOfCare:
    return EpisodeOfCare.model_validate(to_json(stored, name_of))


def _identifier(e: dict[str, Any] | None) -> str | None:
    return e["valueIdentifier"]["value"] if e else None


def _pair(e: dict[str, Any] | None) -> tuple[str | None, str | None] | None:
    return (_identifier(sub(e, "original")), _identifier(sub(e, "successor"))) if e else None


def _determination(e: dict[str, Any]) -> Period:
    return Period(date.fromisoformat(sub(e, "period")["valuePeriod"]["start"]),  # type: ignore[index]
                  sub(e, "rule-set")["valueCode"],  # type: ignore[index]
                  _identifier(sub(e, "local-authority")), _identifier(sub(e, "icb")))


def from_fhir(resource: EpisodeOfCare) -> EntitlementView:
    data = resource.model_dump(mode="json", exclude_none=True)
    la, icb = extension(data, url.EXT_RESPONSIBLE_LA), extension(data, url.EXT_RESPONSIBLE_ICB)
    rule_set, due = extension(data, url.EXT_RULE_SET), extension(data, url.EXT_NEXT_REVIEW_DUE)
    residence = extension(data, url.EXT_RESIDENCE_LA)
    return EntitlementView(
        id=data["id"], person_id=int(data["patient"]["reference"].split("/", 1)[1]),
        status=FROM_FHIR_STATUS[data["status"]],
        planned_on=date.fromisoformat(data["period"]["start"]),
        ended_on=date.fromisoformat(data["period"]["end"]) if "end" in data["period"] else None,
        status_history=tuple((FROM_FHIR_STATUS[h["status"]],
                              date.fromisoformat(h["period"]["start"]))
                             for h in data.get("statusHistory", [])),
        local_authority=code_of_reference(la["valueReference"]) if la else None,
        icb=code_of_reference(icb["valueReference"]) if icb else None,
        commissioning_body=_pair(extension(data, url.EXT_COMMISSIONING_BODY)),
        paying_body=_pair(extension(data, url.EXT_PAYING_BODY)),
        rule_set=rule_set["valueCode"] if rule_set else None,
        basis=tuple(RuleApplied(sub(e, "rule")["valueCoding"]["code"],  # type: ignore[index]
                                sub(e, "reason")["valueString"],  # type: ignore[index]
                                sub(e, "citation")["valueString"])  # type: ignore[index]
                    for e in extensions(data, url.EXT_RESPONSIBILITY_BASIS)),
        determinations=tuple(_determination(e)
                             for e in extensions(data, url.EXT_RESPONSIBILITY_PERIOD)),
        residence_la=_identifier(residence),
        needs_review=tuple(e["valueString"] for e in extensions(data, url.EXT_NEEDS_REVIEW)),
        next_review_due=date.fromisoformat(due["valueDate"]) if due else None,
        disputes=tuple(_dispute_of(e) for e in extensions(data, url.EXT_DISPUTE)),
        care_coordinator=(data.get("careManager") or {}).get("display"))


def _dispute_of(e: dict[str, Any]) -> DisputeView:
    resolved = sub(e, "resolved")
    return DisputeView(
        FROM_DISPUTE_CODES[sub(e, "status")["valueCode"]],  # type: ignore[index]
        tuple(p["valueIdentifier"]["value"] for p in e["extension"] if p["url"] == "party"),
        _identifier(sub(e, "interim-lead")) or "",
        date.fromisoformat(sub(e, "opened")["valueDate"]),  # type: ignore[index]
        date.fromisoformat(resolved["valueDate"]) if resolved else None)
