"""Pieces every resource mapping shares: references to organisations, meta, dates."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from fhir_profiles import canonical as url

LONDON = ZoneInfo("Europe/London")

NameOf = Callable[[str], str | None]
"""Looks up an organisation's name by ODS or GSS code (reference data); None if unknown."""


def local_id(text: str) -> int | None:
    """A register id from a URL or a reference: ASCII digits that fit a 64-bit integer, or
    None. (`str.isdigit` also accepts digits such as '¹' that `int` refuses.)"""
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def is_gss(code: str) -> bool:
    """ONS GSS codes are a letter and eight digits; ODS codes are shorter."""
    return len(code) == 9 and code[0] in "EWSN" and code[1:].isdigit()


def org_identifier(code: str) -> dict[str, str]:
    return {"system": url.GSS_CODE if is_gss(code) else url.ODS_CODE, "value": code}


def org_reference(code: str, name_of: NameOf) -> dict[str, Any]:
    """A reference to Organization/<code> that also carries the identifier, so a reader who
    does not follow references still knows exactly which body it is."""
    ref: dict[str, Any] = {"reference": f"Organization/{code}", "type": "Organization",
                           "identifier": org_identifier(code)}
    if name := name_of(code):
        ref["display"] = name
    return ref


def logical_reference(code: str, name_of: NameOf) -> dict[str, Any]:
    """A reference by identifier only, for bodies the register knows by code but does not
    serve as Organization resources (trusts, GP practices): a URL to them would be a 404."""
    ref: dict[str, Any] = {"type": "Organization", "identifier": org_identifier(code)}
    if name := name_of(code):
        ref["display"] = name
    return ref


def code_of_reference(ref: dict[str, Any] | None) -> str | None:
    if not ref:
        return None
    if ident := ref.get("identifier"):
        return ident.get("value")
    reference = ref.get("reference") or ""
    return reference.split("/", 1)[1] if reference.startswith("Organization/") else None


def instant(moment: datetime) -> str:
    """FHIR instant for a store timestamp (naive UTC), written as the models write it (Z)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def clinical(moment: datetime) -> str:
    """FHIR dateTime for a time a trust reported. Trusts send UK local time without a zone
    (HL7 v2 practice), and FHIR requires a zone whenever a time is given."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)
    return moment.isoformat().replace("+00:00", "Z")  # as the models write it


def naive_clinical(value: str) -> datetime:
    """The inverse of `clinical`: UK local time, without a zone, as the domain keeps it."""
    moment = datetime.fromisoformat(value)
    return moment.astimezone(LONDON).replace(tzinfo=None) if moment.tzinfo else moment


def meta(version: int, updated: datetime, profile: str) -> dict[str, Any]:
    return {"versionId": str(version), "lastUpdated": instant(updated), "profile": [profile]}


def day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def ext(url_: str, **value: Any) -> dict[str, Any]:
    return {"url": url_, **value}


def extensions(resource: dict[str, Any], url_: str) -> list[dict[str, Any]]:
    return [e for e in resource.get("extension") or [] if e.get("url") == url_]


def extension(resource: dict[str, Any], url_: str) -> dict[str, Any] | None:
    found = extensions(resource, url_)
    return found[0] if found else None


def sub(complex_ext: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((e for e in complex_ext.get("extension") or [] if e.get("url") == name), None)
