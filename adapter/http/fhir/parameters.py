"""Operation input: a FHIR Parameters resource flattened to name -> value and checked with a
marshmallow schema, so each operation states its inputs once and a wrong input is named."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate
from werkzeug.datastructures import MultiDict

from adapter.http.fhir.errors import FhirError, Issue
from register.model import EndReason, NoticeMethod, WrittenNotice


def _value(parameter: dict[str, Any]) -> Any:
    """The one value[x] of a parameter; a Coding gives its code, a Reference its reference."""
    for key, value in parameter.items():
        if key.startswith("value"):
            if key == "valueCoding":
                return value.get("code")
            if key == "valueReference":
                return value.get("reference")
            return value
    return None


def as_query(parameters: dict[str, Any]) -> MultiDict[str, str]:
    """A Parameters body as the query string the GET form of the operation takes: a token
    (Identifier or Coding) as `system|value`, a primitive as its text. FHIR lets a client
    POST any operation; the POST form also keeps an NHS number out of the URL."""
    out: MultiDict[str, str] = MultiDict()
    for p in parameters.get("parameter", []):
        value = p.get("valueIdentifier") or p.get("valueCoding")
        if isinstance(value, dict):
            text = f"{value.get('system', '')}|{value.get('value', value.get('code', ''))}"
        else:
            text = _value(p)
        if not isinstance(p.get("name"), str) or not isinstance(text, str | int | bool):
            raise FhirError(400, Issue("error", "invalid", "each parameter needs a name and "
                                       "one value", ["Parameters.parameter"]))
        out.add(p["name"], str(text).lower() if isinstance(text, bool) else str(text))
    return out


def flatten(parameters: dict[str, Any], repeating: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in parameters.get("parameter", []):
        name = p.get("name")
        if name in repeating:
            out.setdefault(name, []).append(_value(p))
        elif name in out:
            raise FhirError(400, Issue("error", "invalid", f"parameter {name!r} is given twice",
                                       [f"Parameters.parameter.where(name='{name}')"]))
        else:
            out[name] = _value(p)
    return out


def load(schema: Schema, parameters: dict[str, Any]) -> dict[str, Any]:
    """Parameters -> checked keyword values; every wrong parameter becomes one issue."""
    repeating = frozenset(f.data_key or n for n, f in schema.fields.items()
                          if isinstance(f, fields.List))
    try:
        return schema.load(flatten(parameters, repeating))
    except ValidationError as exc:
        messages = exc.normalized_messages()
        raise FhirError(400, *(Issue("error", "invalid", f"parameter {name!r}: "
                                     + "; ".join(map(str, _flat(problem))),
                                     [f"Parameters.parameter.where(name='{name}')"])
                               for name, problem in sorted(messages.items()))) from None


def _flat(problem: Any) -> list[Any]:
    if isinstance(problem, dict):
        return [m for v in problem.values() for m in _flat(v)]
    return list(problem) if isinstance(problem, list) else [problem]


class EndEntitlementParams(Schema):
    """`EpisodeOfCare/{id}/$end-entitlement` (DESIGN.md): the joint end decision."""

    decision_date = fields.Date(required=True, data_key="decision-date")
    la_agreed = fields.Boolean(required=True, data_key="la-agreed")
    # Who agreed for each body and when are required by rule D1, which the register
    # applies, so that their absence is refused as a 422 naming D1 rather than as a 400.
    la_agreed_by = fields.String(load_default="", data_key="la-agreed-by")
    la_agreed_on = fields.Date(load_default=None, data_key="la-agreed-on")
    icb_agreed = fields.Boolean(required=True, data_key="icb-agreed")
    icb_agreed_by = fields.String(load_default="", data_key="icb-agreed-by")
    icb_agreed_on = fields.Date(load_default=None, data_key="icb-agreed-on")
    person_involved = fields.Boolean(required=True, data_key="person-involved")
    carer_involved = fields.Boolean(load_default=None, data_key="carer-involved")
    reason = fields.List(fields.String(validate=validate.OneOf([r.value for r in EndReason])),
                         required=True, validate=validate.Length(min=1))
    note = fields.String(load_default="")
    moved_to_suitable_accommodation = fields.Boolean(
        load_default=False, data_key="moved-to-suitable-accommodation")
    end_date = fields.Date(load_default=None, data_key="end-date")
    # D8 (MHA 2025 s46(2)), required by the register once the locality policy switches
    # the set on: refused as 422 naming D8 when absent, like D1's who-and-when.
    notice_date = fields.Date(load_default=None, data_key="notice-date")
    notice_given_by = fields.List(fields.String(validate=validate.Length(min=1)),
                                  load_default=list, data_key="notice-given-by")
    notice_method = fields.String(load_default=None, data_key="notice-method",
                                  validate=validate.OneOf([m.value for m in NoticeMethod]))
    notice_document = fields.Dict(load_default=None, data_key="notice-document")


_NOTICE = {"notice_date": "notice-date", "notice_given_by": "notice-given-by",
           "notice_method": "notice-method", "notice_document": "notice-document"}


def written_notice(given: dict[str, Any]) -> WrittenNotice | None:
    """The D8 notice from `$end-entitlement` parameters: all of them or none."""
    present = [name for name in _NOTICE if given.get(name)]
    if not present:
        return None
    absent = [_NOTICE[name] for name in _NOTICE if name not in present]
    if absent:
        raise FhirError(400, *(Issue("error", "required", f"parameter {name!r}: a written "
                                     "notice (rule D8) gives its date, both bodies, the method "
                                     "and the document", [f"Parameters.parameter.where(name="
                                                          f"'{name}')"]) for name in absent))
    document = given["notice_document"]
    return WrittenNotice(given_on=given["notice_date"], given_by=list(given["notice_given_by"]),
                         method=NoticeMethod(given["notice_method"]),
                         document_title=str(document.get("title", "")),
                         document_url=document.get("url"),
                         document_type=document.get("contentType"),
                         document_hash=document.get("hash"))


class RecordChargeParams(Schema):
    """`EpisodeOfCare/{id}/$record-charge` (rule O4): the person was charged for s117
    services; the same charge-id again records the refund."""

    charge_id = fields.String(required=True, data_key="charge-id",
                              validate=validate.Regexp(r"^[A-Za-z0-9\-.]{1,64}$"))
    charged_from = fields.Date(required=True, data_key="charged-from")
    charged_to = fields.Date(load_default=None, data_key="charged-to")
    amount = fields.Decimal(required=True, validate=validate.Range(min=0, min_inclusive=False))
    charged_by = fields.String(load_default=None, data_key="charged-by")
    line_id = fields.String(load_default=None, data_key="service-line")
    refunded_amount = fields.Decimal(load_default=None, data_key="refunded-amount",
                                     validate=validate.Range(min=0))
    refunded_on = fields.Date(load_default=None, data_key="refunded-on")
    note = fields.String(load_default="")


class ReinstateParams(Schema):
    """`EpisodeOfCare/{id}/$reinstate`: the day aftercare is needed again, and why."""

    date = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1))
