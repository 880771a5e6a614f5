"""ResponsibilityAnswer -> the Parameters of `Patient/$s117-responsibility` (DESIGN.md)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.parameters import Parameters

from fhir_profiles import canonical as url
from mappings.fhir.common import org_identifier
from register.model import Responsibility
from register.queries import ResponsibilityAnswer


def _body(name: str, code: str, answer: ResponsibilityAnswer) -> dict[str, Any]:
    identifier: dict[str, Any] = org_identifier(code)
    if display := answer.name(code):
        identifier["assigner"] = {"display": display}
    part = {"name": name, "valueIdentifier": identifier}
    return part


def _segment(seg: Responsibility, answer: ResponsibilityAnswer) -> dict[str, Any]:
    """One segment of the holder timeline (DESIGN.md `history`)."""
    parts: list[dict[str, Any]] = [{"name": "from", "valueDate": seg.effective_from.isoformat()}]
    if seg.effective_to:
        parts.append({"name": "to", "valueDate": seg.effective_to.isoformat()})
    for name, code in (("local-authority", seg.local_authority), ("icb", seg.icb),
                       ("original-body", seg.original_body)):
        if code:
            parts.append(_body(name, code, answer))
    if seg.nhs_rule:
        parts.append({"name": "rule", "valueCoding": {"system": url.CS_RULE,
                                                      "code": seg.nhs_rule}})
    parts += [{"name": "needs-review", "valueString": r} for r in seg.needs_review]
    return {"name": "history", "part": parts}


def to_json(answer: ResponsibilityAnswer) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": "entitled", "valueBoolean": answer.entitled},
        {"name": "status", "valueCode": answer.status},
    ]
    if answer.local_authority:
        params.append(_body("local-authority", answer.local_authority, answer))
    if answer.icb:
        params.append(_body("icb", answer.icb, answer))
    if answer.original_body:
        params.append(_body("original-body", answer.original_body, answer))
    if answer.commissioning_body and answer.paying_body and \
            answer.commissioning_body != answer.paying_body:
        params.append(_body("commissioning-body", answer.commissioning_body, answer))
        params.append(_body("paying-body", answer.paying_body, answer))
    if answer.residence_la:
        params.append(_body("residence-local-authority", answer.residence_la, answer))
        params.append({"name": "out-of-area", "valueBoolean": answer.out_of_area})
    if answer.rule_set:
        params.append({"name": "rule-set", "valueCode": answer.rule_set})
    params += [{"name": "basis", "part": [
        {"name": "rule", "valueCoding": {"system": url.CS_RULE, "code": step.rule_id}},
        {"name": "reason", "valueString": step.reason},
        {"name": "citation", "valueString": step.citation}]} for step in answer.basis]
    params += [{"name": "needs-review", "valueString": r} for r in answer.needs_review]
    if answer.next_review_due:
        params.append({"name": "next-review-due",
                       "valueDate": answer.next_review_due.isoformat()})
        params.append({"name": "review-overdue", "valueBoolean": answer.review_overdue})
    if answer.entitlement_id:
        params.append({"name": "entitlement",
                       "valueReference": {"reference": f"EpisodeOfCare/{answer.entitlement_id}"}})
    params += [{"name": "flag", "valueCode": code} for code in answer.flags]
    params.append({"name": "as-of", "valueDate": answer.as_of.isoformat()})
    params += [_segment(seg, answer) for seg in answer.timeline]
    return {"resourceType": "Parameters", "parameter": params}


def to_parameters(answer: ResponsibilityAnswer) -> Parameters:
    return Parameters.model_validate(to_json(answer))
