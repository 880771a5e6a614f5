"""Authoring tool for the conformance resources under `fhir_profiles/resources/`.

The JSON files are the published artefacts (what the server serves and the validator reads);
this module is how they are written, the way FHIR Shorthand and SUSHI write an IG's JSON: each
profile, extension, code system and operation is declared once below, compactly, and
`python -m tools.author_profiles` regenerates every file. A unit test fails if a file differs
from what this module would write, so the JSON is never edited by hand.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fhir_profiles import canonical as url
from register.model import NEED_CATEGORIES

Resource = dict[str, Any]
FOLDER = Path(__file__).resolve().parents[1] / "fhir_profiles" / "resources"
VERSION, DATE, PUBLISHER = "0.1.0", "2026-11-22", "s117-register"
BASE_EXT = "http://hl7.org/fhir/StructureDefinition/Extension"
ORG = "http://hl7.org/fhir/StructureDefinition/Organization"
UKCORE_ORG = url.UKCORE_ORGANIZATION


def _common(kind: str, ident: str, canonical: str, title: str, description: str) -> Resource:
    return {"resourceType": kind, "id": ident, "url": canonical, "version": VERSION,
            "name": re.sub(r"[^A-Za-z0-9]", "", title.title()), "title": title,
            "status": "active", "date": DATE, "publisher": PUBLISHER,
            "description": description}


def _last(canonical: str) -> str:
    return canonical.rsplit("/", 1)[1]


# -- extensions ------------------------------------------------------------------------------

# name, value types, min, max, short; optionally the value set the value is bound to (required)
Sub = tuple[str, list[str], int, str, str] | tuple[str, list[str], int, str, str, str]


TARGETS = {"Organization": UKCORE_ORG, "Patient": url.PATIENT}


def _types(codes: list[str]) -> list[Resource]:
    """`Reference` is to an Organization; `Reference(Organization|Patient)` names targets."""
    out: list[Resource] = []
    for code in codes:
        if code.startswith("Reference"):
            targets = code.partition("(")[2].rstrip(")").split("|") if "(" in code \
                else ["Organization"]
            out.append({"code": "Reference", "targetProfile": [TARGETS[t] for t in targets]})
        else:
            out.append({"code": code})
    return out


def extension(canonical: str, title: str, description: str, contexts: list[str],
              value: list[str] | None = None, subs: list[Sub] | None = None,
              binding: str | None = None) -> Resource:
    sd = _common("StructureDefinition", _last(canonical), canonical, title, description)
    sd.update({"fhirVersion": url.FHIR_VERSION, "kind": "complex-type", "abstract": False,
               "context": [{"type": "element", "expression": c} for c in contexts],
               "type": "Extension", "baseDefinition": BASE_EXT, "derivation": "constraint"})
    elements: list[Resource] = [{"id": "Extension", "path": "Extension", "short": title,
                                 "definition": description}]
    if subs:
        elements.append({"id": "Extension.extension", "path": "Extension.extension",
                         "slicing": {"discriminator": [{"type": "value", "path": "url"}],
                                     "rules": "open"}})
        for name, types, low, high, short, *bound in subs:
            at = f"Extension.extension:{name}"
            sub_value: Resource = {"id": f"{at}.value[x]", "path": "Extension.extension.value[x]",
                                   "min": 1, "type": _types(types)}
            if bound:
                sub_value["binding"] = {"strength": "required", "valueSet": bound[0]}
            elements += [
                {"id": at, "path": "Extension.extension", "sliceName": name, "short": short,
                 "min": low, "max": high},
                {"id": f"{at}.url", "path": "Extension.extension.url", "fixedUri": name},
                sub_value]
        elements += [{"id": "Extension.url", "path": "Extension.url", "fixedUri": canonical},
                     {"id": "Extension.value[x]", "path": "Extension.value[x]", "max": "0"}]
    else:
        value_element: Resource = {"id": "Extension.value[x]", "path": "Extension.value[x]",
                                   "min": 1, "type": _types(value or [])}
        if binding:
            value_element["binding"] = {"strength": "required", "valueSet": binding}
        elements += [{"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
                     {"id": "Extension.url", "path": "Extension.url", "fixedUri": canonical},
                     value_element]
    sd["differential"] = {"element": elements}
    return sd


BODY_SUBS: list[Sub] = [
    ("original", ["Identifier"], 0, "1", "CCG (or ICB) the rule pointed at, by ODS code"),
    ("successor", ["Identifier"], 0, "1", "the ICB that holds the duty now (rule N6)")]

EXTENSIONS = [
    extension(url.EXT_LEGAL_STATUS_PERIOD, "S117 Legal Status Period",
              "One Mental Health Act legal status in the sequence of a stay (e.g. s2 then s3), "
              "with its period and whether it was restricted.", ["Encounter"],
              subs=[("code", ["CodeableConcept"], 1, "1",
                     "England legal status classification code (UK Core)"),
                    ("period", ["Period"], 1, "1", "when this legal status applied"),
                    ("restricted", ["boolean"], 0, "1", "a restriction order applied")]),
    extension(url.EXT_RESPONSIBLE_LA, "S117 Responsible Local Authority",
              "The local authority responsible for s117 aftercare (rules L1-L6).",
              ["EpisodeOfCare"], ["Reference"]),
    extension(url.EXT_RESPONSIBLE_ICB, "S117 Responsible ICB",
              "The ICB responsible for s117 aftercare today (rules N2-N8).", ["EpisodeOfCare"],
              ["Reference"]),
    extension(url.EXT_COMMISSIONING_BODY, "S117 Commissioning Body",
              "Rule N4 (detentions 2020-09-01 to 2022-06-30): the commissioning CCG and its "
              "successor ICB.", ["EpisodeOfCare", "Coverage"], subs=BODY_SUBS),
    extension(url.EXT_PAYING_BODY, "S117 Paying Body",
              "Rule N4: the paying (originating) CCG and its successor ICB.",
              ["EpisodeOfCare", "Coverage"], subs=BODY_SUBS),
    extension(url.EXT_RESPONSIBILITY_BASIS, "S117 Responsibility Basis",
              "One rule applied to reach the answer: rule id, the reason in words, and the "
              "law or guidance cited.", ["EpisodeOfCare"],
              subs=[("rule", ["Coding"], 1, "1", "rule id (s117-rule code system)",
                     url.vs("s117-rule")),
                    ("reason", ["string"], 1, "1", "why the rule applied to this person"),
                    ("citation", ["string"], 1, "1", "the law or guidance behind the rule")]),
    extension(url.EXT_RESPONSIBILITY_PERIOD, "S117 Responsibility Period",
              "One determination of the responsible bodies, in force for a period; earlier "
              "determinations are kept, never overwritten.", ["EpisodeOfCare"],
              subs=[("period", ["Period"], 1, "1", "when this determination applied"),
                    ("rule-set", ["code"], 1, "1", "the dated rule set used"),
                    ("local-authority", ["Identifier"], 0, "1", "responsible LA (GSS code)"),
                    ("icb", ["Identifier"], 0, "1", "responsible ICB (ODS code)")]),
    extension(url.EXT_RESIDENCE_LA, "S117 Residence Local Authority",
              "The local authority the person lives in now (GSS code); differs from the "
              "responsible one for an out-of-area placement (rule L2).", ["EpisodeOfCare"],
              ["Identifier"]),
    extension(url.EXT_NEEDS_REVIEW, "S117 Needs Review",
              "A reason an officer must review this entitlement rather than trust the "
              "register's answer.", ["EpisodeOfCare"], ["string"]),
    extension(url.EXT_DISPUTE, "S117 Dispute",
              "A dispute between local authorities about responsibility (rule L5), with the "
              "interim lead authority.", ["EpisodeOfCare"],
              subs=[("status", ["code"], 1, "1", "open | resolved | referred"),
                    ("party", ["Identifier"], 1, "*", "a local authority in the dispute"),
                    ("interim-lead", ["Identifier"], 1, "1", "who arranges aftercare meanwhile"),
                    ("opened", ["date"], 1, "1", "when the dispute was opened"),
                    ("resolved", ["date"], 0, "1", "when it was resolved")]),
    extension(url.EXT_FUNDING_BASIS, "S117 Funding Basis",
              "The basis a service or funding line is paid under (rule F2).",
              ["Coverage", "CarePlan.activity"], ["Coding"], binding=url.vs("s117-funding-basis")),
    extension(url.EXT_FUNDING_SHARE, "S117 Funding Share",
              "One funder's share of a service; the shares of one service add up to 100% "
              "(rule F2). The funder is a council or NHS commissioner (Organization), the "
              "person (their Patient: only for a Care Act service or an s117A top-up, rules "
              "F1 and F4), or housing benefit (identifier system "
              f"{url.PAYER}, value housing-benefit: never for an s117 service).",
              ["CarePlan.activity"],
              subs=[("funder", ["Reference(Organization|Patient)"], 1, "1",
                     "who pays this share"),
                    ("percent", ["decimal"], 1, "1", "share in percent, more than 0 and at "
                     "most 100")]),
    extension(url.EXT_SERVICE_LINE, "S117 Service Line",
              "What the register records of one service of an aftercare plan besides its "
              "funding: weekly cost, whether it meets a need arising from the mental disorder "
              "(s117(6)), whether it is health care (rule F3; default by service type), when "
              "its funding was requested (rule F5), and, set by the register, where its panel "
              "decision stands.", ["CarePlan.activity"],
              subs=[("weekly-cost", ["Money"], 0, "1", "cost per week (GBP)"),
                    ("meets-mental-disorder-need", ["boolean"], 0, "1",
                     "meets a need arising from the mental disorder (default true)"),
                    ("health-care", ["boolean"], 0, "1", "health care (default: by type)"),
                    ("requested", ["date"], 0, "1", "when funding (a personal health budget, "
                     "a direct payment) was requested"),
                    ("panel", ["code"], 0, "1", "set by the register: where the line's panel "
                     "decision stands", url.vs("s117-panel-status")),
                    ("panel-reason", ["string"], 0, "1", "set by the register: why the line "
                     "goes to the panel")]),
    extension(url.EXT_ASSESSED_NEED, "S117 Assessed Need",
              "One aspect of need assessed for the plan (MHA Code of Practice 34.19, seed 004 "
              "appendix A) and whether it arises from the mental disorder: services meeting "
              "such a need are s117 and free (rules F1, F4).", ["CarePlan"],
              subs=[("category", ["Coding"], 1, "1", "the aspect of need",
                     url.vs("s117-need-category")),
                    ("arises-from-disorder", ["boolean"], 1, "1",
                     "the need arises from the mental disorder"),
                    ("note", ["string"], 0, "1", "the assessment in words")]),
    extension(url.EXT_NEXT_REVIEW_DUE, "S117 Next Review Due",
              "When the next s117 review is due (rules R1-R3).", ["EpisodeOfCare"], ["date"]),
    extension(url.EXT_RULE_SET, "S117 Rule Set",
              "The dated rule set (by detention date) the determination used.",
              ["EpisodeOfCare"], ["code"]),
    extension(url.EXT_ENTITLEMENT_EVENT, "S117 Entitlement Event",
              "What happened to the entitlement a subscription notification-event is about "
              "(started, ended, responsibility-changed, ...), from when, and why in words.",
              ["Parameters.parameter"],
              subs=[("code", ["Coding"], 1, "1", "the event (s117-entitlement-event)",
                     url.vs("s117-entitlement-event")),
                    ("effective", ["date"], 1, "1", "the day the change takes effect"),
                    ("detail", ["string"], 0, "1", "the reason in words; never names the "
                     "person")]),
    extension(url.EXT_AMQP_CHANNEL, "S117 AMQP Channel",
              "Where a subscriber on the custom channel amqp reads its notifications: its own "
              "durable queue on the register's RabbitMQ, and the user that may read it (the "
              "password appears once, in the answer to the request that created it).",
              ["Subscription.channel"],
              subs=[("queue", ["string"], 1, "1", "the subscriber's queue"),
                    ("username", ["string"], 0, "1", "RabbitMQ user that may read the queue"),
                    ("password", ["string"], 0, "1", "that user's password, shown once")]),
]

# -- profiles --------------------------------------------------------------------------------


def _ext_slice(path: str, name: str, canonical: str, low: int = 0,
               high: str = "*") -> Resource:
    return {"id": f"{path}.extension:{name}", "path": f"{path}.extension", "sliceName": name,
            "min": low, "max": high, "type": [{"code": "Extension", "profile": [canonical]}]}


def _ext_slicing(path: str) -> Resource:
    return {"id": f"{path}.extension", "path": f"{path}.extension",
            "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}}


def profile(canonical: str, resource: str, base: str, title: str, description: str,
            elements: list[Resource], constraints: Sequence[tuple[str, str, str]] = ()
            ) -> Resource:
    sd = _common("StructureDefinition", _last(canonical), canonical, title, description)
    sd.update({"fhirVersion": url.FHIR_VERSION, "kind": "resource", "abstract": False,
               "type": resource, "baseDefinition": base, "derivation": "constraint"})
    root: Resource = {"id": resource, "path": resource, "short": title,
                      "definition": description}
    if constraints:
        root["constraint"] = [{"key": key, "severity": "error", "human": human,
                               "expression": expression, "source": canonical}
                              for key, human, expression in constraints]
    sd["differential"] = {"element": [root, *elements]}
    return sd


NHS_SLICE = "Patient.identifier:nhsNumber"
PATIENT = profile(
    url.PATIENT, "Patient", url.UKCORE_PATIENT, "S117 Patient",
    "A person on the s117 register: UK Core Patient with exactly one NHS number.",
    [{"id": "Patient.identifier", "path": "Patient.identifier", "min": 1,
      "slicing": {"discriminator": [{"type": "value", "path": "system"}], "rules": "open"}},
     {"id": NHS_SLICE, "path": "Patient.identifier", "sliceName": "nhsNumber", "min": 1,
      "max": "1"},
     {"id": f"{NHS_SLICE}.system", "path": "Patient.identifier.system", "min": 1,
      "fixedUri": url.NHS_NUMBER},
     {"id": f"{NHS_SLICE}.value", "path": "Patient.identifier.value", "min": 1}],
    [("s117-pat-1", "The NHS number is ten digits",
      f"identifier.where(system = '{url.NHS_NUMBER}').value.all(matches('^[0-9]{{10}}$'))")])

DETENTION = profile(
    url.DETENTION, "Encounter", url.UKCORE_ENCOUNTER, "S117 Detention",
    "One hospital stay with every Mental Health Act legal status period.",
    [_ext_slicing("Encounter"),
     _ext_slice("Encounter", "legalStatus", url.UKCORE_LEGAL_STATUS, 0, "2"),
     _ext_slice("Encounter", "legalStatusPeriod", url.EXT_LEGAL_STATUS_PERIOD),
     {"id": "Encounter.identifier", "path": "Encounter.identifier", "min": 1},
     {"id": "Encounter.class", "path": "Encounter.class",
      "patternCoding": {"system": url.V3_ACT_CODE, "code": "IMP"}},
     {"id": "Encounter.subject", "path": "Encounter.subject", "min": 1},
     {"id": "Encounter.period", "path": "Encounter.period", "min": 1},
     {"id": "Encounter.period.start", "path": "Encounter.period.start", "min": 1},
     {"id": "Encounter.serviceProvider", "path": "Encounter.serviceProvider", "min": 1}],
    [("s117-enc-1", "A finished stay has a discharge time",
      "status = 'finished' implies period.end.exists()")])

ENTITLEMENT_EXTS = [("responsibleLocalAuthority", url.EXT_RESPONSIBLE_LA, "1"),
                    ("responsibleIcb", url.EXT_RESPONSIBLE_ICB, "1"),
                    ("commissioningBody", url.EXT_COMMISSIONING_BODY, "1"),
                    ("payingBody", url.EXT_PAYING_BODY, "1"),
                    ("ruleSet", url.EXT_RULE_SET, "1"),
                    ("responsibilityBasis", url.EXT_RESPONSIBILITY_BASIS, "*"),
                    ("responsibilityPeriod", url.EXT_RESPONSIBILITY_PERIOD, "*"),
                    ("residenceLocalAuthority", url.EXT_RESIDENCE_LA, "1"),
                    ("needsReview", url.EXT_NEEDS_REVIEW, "*"),
                    ("nextReviewDue", url.EXT_NEXT_REVIEW_DUE, "1"),
                    ("dispute", url.EXT_DISPUTE, "*")]
ENTITLEMENT = profile(
    url.ENTITLEMENT, "EpisodeOfCare", url.UKCORE_EPISODE_OF_CARE, "S117 Entitlement",
    "One entitlement to s117 aftercare, with the responsible local authority and ICB and "
    "the rules and citations that chose them.",
    [_ext_slicing("EpisodeOfCare"),
     *[_ext_slice("EpisodeOfCare", name, ext_url, 0, high)
       for name, ext_url, high in ENTITLEMENT_EXTS],
     {"id": "EpisodeOfCare.type", "path": "EpisodeOfCare.type", "min": 1, "max": "1",
      "patternCodeableConcept": {"coding": [{"system": url.CS_EPISODE_TYPE,
                                             "code": "s117-aftercare"}]}},
     {"id": "EpisodeOfCare.period", "path": "EpisodeOfCare.period", "min": 1},
     {"id": "EpisodeOfCare.period.start", "path": "EpisodeOfCare.period.start", "min": 1}],
    [("s117-eoc-1", "An ended entitlement has an end date",
      "status = 'finished' implies period.end.exists()"),
     ("s117-eoc-2", "At most one responsible local authority and one responsible ICB",
      f"extension.where(url = '{url.EXT_RESPONSIBLE_LA}').count() <= 1 and "
      f"extension.where(url = '{url.EXT_RESPONSIBLE_ICB}').count() <= 1")])

FUNDING = profile(
    url.FUNDING, "Coverage", "http://hl7.org/fhir/StructureDefinition/Coverage",
    "S117 Funding",
    "One responsible body's funding responsibility for an s117 entitlement: free to the "
    "person (rule F1). UK Core has no Coverage profile, so this derives from the base.",
    [_ext_slicing("Coverage"),
     _ext_slice("Coverage", "payingBody", url.EXT_PAYING_BODY, 0, "1"),
     _ext_slice("Coverage", "commissioningBody", url.EXT_COMMISSIONING_BODY, 0, "1"),
     _ext_slice("Coverage", "fundingBasis", url.EXT_FUNDING_BASIS, 0, "1"),
     {"id": "Coverage.type", "path": "Coverage.type", "min": 1,
      "binding": {"strength": "required", "valueSet": url.vs("s117-coverage-type")}},
     {"id": "Coverage.payor", "path": "Coverage.payor", "max": "1"},
     {"id": "Coverage.costToBeneficiary", "path": "Coverage.costToBeneficiary", "min": 1}],
    [("s117-cov-1", "s117 aftercare is free to the person (F1)",
      "costToBeneficiary.all(value.ofType(Money).value = 0)")])

ACTIVITY = "CarePlan.activity"
AFTERCARE_PLAN = profile(
    url.AFTERCARE_PLAN, "CarePlan", url.UKCORE_CARE_PLAN, "S117 Aftercare Plan",
    "The s117 aftercare plan of one entitlement (`supportingInfo` references the "
    "EpisodeOfCare): the needs assessed against the Code of Practice 34.19 list, the care "
    "coordinator (a contained CareTeam), and each service (`activity`, its `id` the line id) "
    "with its type, provider, dates, funding basis and the shares of its funders (rule F2).",
    [_ext_slicing("CarePlan"),
     _ext_slice("CarePlan", "assessedNeed", url.EXT_ASSESSED_NEED),
     {"id": "CarePlan.status", "path": "CarePlan.status", "binding": {
         "strength": "required", "valueSet": url.vs("s117-plan-status")}},
     {"id": "CarePlan.intent", "path": "CarePlan.intent", "fixedCode": "plan"},
     {"id": "CarePlan.subject", "path": "CarePlan.subject", "min": 1},
     {"id": f"{ACTIVITY}.extension", "path": f"{ACTIVITY}.extension",
      "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}},
     {"id": f"{ACTIVITY}.extension:fundingBasis", "path": f"{ACTIVITY}.extension",
      "sliceName": "fundingBasis", "min": 1, "max": "1",
      "type": [{"code": "Extension", "profile": [url.EXT_FUNDING_BASIS]}]},
     {"id": f"{ACTIVITY}.extension:fundingShare", "path": f"{ACTIVITY}.extension",
      "sliceName": "fundingShare", "min": 1, "max": "*",
      "type": [{"code": "Extension", "profile": [url.EXT_FUNDING_SHARE]}]},
     {"id": f"{ACTIVITY}.extension:serviceLine", "path": f"{ACTIVITY}.extension",
      "sliceName": "serviceLine", "min": 0, "max": "1",
      "type": [{"code": "Extension", "profile": [url.EXT_SERVICE_LINE]}]},
     {"id": f"{ACTIVITY}.detail", "path": f"{ACTIVITY}.detail", "min": 1},
     {"id": f"{ACTIVITY}.detail.code", "path": f"{ACTIVITY}.detail.code", "min": 1,
      "binding": {"strength": "required", "valueSet": url.vs("s117-service-type")}},
     {"id": f"{ACTIVITY}.detail.reasonCode", "path": f"{ACTIVITY}.detail.reasonCode",
      "binding": {"strength": "extensible", "valueSet": url.vs("s117-need-category")}}],
    [("s117-cp-1", "The funding shares of each service add up to 100% (rule F2)",
      f"activity.all(extension.where(url = '{url.EXT_FUNDING_SHARE}').extension"
      ".where(url = 'percent').value.ofType(decimal).aggregate($this + $total, 0) = 100)"),
     ("s117-cp-2", "A care coordinator is a contained CareTeam the plan refers to",
      "contained.ofType(CareTeam).count() <= 1")])

TASK = profile(
    url.TASK, "Task", url.UKCORE_TASK, "S117 Task",
    "Council and joint casework on an s117 entitlement: a review held or due (rules R1-R3), "
    "an ordinary-residence decision (L1) or dispute (L5), a panel decision on a service line "
    "or a line awaiting one, the joint end decision (D1-D5) and one body's proposal to end "
    "aftercare that the other answers (D1). Inputs and outputs are typed from the "
    "s117-task-parameter code system. meta.versionId is the version of the person's record "
    "the Task is derived from: an update may send it as If-Match.",
    [{"id": "Task.code", "path": "Task.code", "min": 1,
      "binding": {"strength": "required", "valueSet": url.vs("s117-task-type")}},
     {"id": "Task.for", "path": "Task.for", "min": 1},
     {"id": "Task.focus", "path": "Task.focus", "min": 1},
     {"id": "Task.input.type", "path": "Task.input.type",
      "binding": {"strength": "required", "valueSet": url.vs("s117-task-parameter")}},
     {"id": "Task.output.type", "path": "Task.output.type",
      "binding": {"strength": "required", "valueSet": url.vs("s117-task-parameter")}}])

FLAG = profile(
    url.FLAG, "Flag", url.UKCORE_FLAG, "S117 Flag",
    "An alert on a person's s117 record, in force for a period: entitled to free s117 "
    "aftercare, responsibility disputed (L5), review overdue (R3), no aftercare plan or no "
    "care coordinator once aftercare has begun (E2). Set by the register, never written.",
    [{"id": "Flag.code", "path": "Flag.code",
      "binding": {"strength": "required", "valueSet": url.vs("s117-flag")}},
     {"id": "Flag.period", "path": "Flag.period", "min": 1},
     {"id": "Flag.period.start", "path": "Flag.period.start", "min": 1}])

PROFILES = [PATIENT, DETENTION, ENTITLEMENT, FUNDING, AFTERCARE_PLAN, TASK, FLAG]

# -- code systems and value sets ---------------------------------------------------------------

Concept = tuple[str, str, str]  # code, display, definition


def code_system(canonical: str, title: str, description: str,
                concepts: list[Concept]) -> Resource:
    cs = _common("CodeSystem", _last(canonical), canonical, title, description)
    cs.update({"caseSensitive": True, "valueSet": url.vs(_last(canonical)),
               "content": "complete", "count": len(concepts),
               "concept": [{"code": c, "display": d, "definition": f}
                           for c, d, f in concepts]})
    return cs


def value_set(system: Resource) -> Resource:
    ident = system["id"]
    vs = _common("ValueSet", ident, url.vs(ident), system["title"],
                 f"Every code of the {system['title']} code system.")
    vs["compose"] = {"include": [{"system": system["url"]}]}
    return vs


EVENTS: list[Concept] = [
    ("admission", "Admission", "Admitted to hospital, with the legal status on admission."),
    ("legal-status-change", "Legal status change",
     "A new Mental Health Act legal status period (e.g. s2 converted to s3)."),
    ("leave", "Section 17 leave", "Leave of absence began (Encounter onleave) or ended."),
    ("cto-start", "CTO start", "A community treatment order began (s17A)."),
    ("cto-end", "CTO end", "A community treatment order ended."),
    ("conditional-discharge", "Conditional discharge",
     "A restricted patient was conditionally discharged."),
    ("discharge", "Discharge", "Discharged from hospital."),
    ("death", "Death", "The person died."),
    ("merge", "Merge", "Two records of one person were merged; the retired NHS number is "
     "named in Patient.link.")]

END_REASONS: list[Concept] = [
    ("no-longer-needed", "No longer needed",
     "The person no longer needs aftercare services for their mental disorder (sufficient)."),
    ("died", "Died", "The person died (sufficient)."),
    ("discharged-from-specialist-services", "Discharged from specialist services",
     "Never sufficient on its own (rule D3)."),
    ("time-elapsed", "Time elapsed", "Never sufficient on its own (rule D3)."),
    ("deprived-of-liberty-mca", "Deprived of liberty under the MCA",
     "Never sufficient on its own (rule D3)."),
    ("readmitted-informal-or-s2", "Readmitted informally or under s2",
     "Never sufficient on its own (rules D3, L4)."),
    ("cto-or-leave-ended", "CTO or leave ended", "Never sufficient on its own (rule D3)."),
    ("refused-services", "Refused services", "Never sufficient on its own (rule D3).")]

FUNDING_BASES: list[Concept] = [
    ("s117", "Section 117", "Aftercare under s117: meets a need arising from the mental "
     "disorder; free to the person (F1)."),
    ("care-act", "Care Act 2014", "A need not arising from the mental disorder, met under the "
     "Care Act (may be charged)."),
    ("chc", "NHS Continuing Healthcare", "Met under NHS CHC, not s117."),
    ("fnc", "NHS-funded nursing care", "Met under FNC, not s117."),
    ("s117a-top-up", "s117A top-up", "The person's own payment for a preferred, more "
     "expensive placement (s117A): the only personal payment towards s117 accommodation "
     "(F4).")]

SERVICE_TYPES: list[Concept] = [
    ("residential-care", "Residential care", "A care home placement (specialist "
     "accommodation, F4 and D4)."),
    ("nursing-care", "Nursing care", "A nursing home placement (specialist accommodation; "
     "health care, F3)."),
    ("supported-accommodation", "Supported accommodation", "Supported living, extra care or "
     "sheltered housing (specialist accommodation; never ordinary accommodation, F4)."),
    ("domiciliary", "Domiciliary care", "Care and support at home."),
    ("day-services", "Day services", "Day centres and daytime activities."),
    ("medication", "Medication", "Administering medication for the mental disorder (health "
     "care, F3)."),
    ("psychological-therapy", "Psychological therapy", "Psychological support and therapy "
     "(health care, F3)."),
    ("employment-support", "Employment support", "Support into work, training or "
     "volunteering."),
    ("personal-health-budget", "Personal health budget", "A sum the person uses to meet "
     "their s117 needs; right since December 2019 (health care, F3; request and decision "
     "recorded, F5)."),
    ("direct-payment", "Direct payment", "Money from the council for the person to arrange "
     "their own support (request and decision recorded, F5)."),
    ("other", "Other", "Any other aftercare service; say whether it is health care.")]

PANEL_STATUSES: list[Concept] = [
    ("not-required", "Not required", "The line does not go to the panel under the locality "
     "policy."),
    ("pending", "Pending", "Waiting for the panel (on its agenda)."),
    ("deferred", "Deferred", "The panel deferred it: still on its agenda."),
    ("approved", "Approved", "The panel approved it."),
    ("approved-with-changes", "Approved with changes", "The panel approved it with changes."),
    ("declined", "Declined", "The panel declined it.")]

TASK_TYPES: list[Concept] = [
    ("review", "s117 review", "A review held (completed) or the next one due (requested), "
     "rules R1-R3."),
    ("or-decision", "Ordinary residence decision", "A council's decision on where the "
     "person was ordinarily resident before detention (rule L1)."),
    ("or-dispute", "Ordinary residence dispute", "A dispute between councils, open, "
     "referred to the Secretary of State, or resolved (rule L5)."),
    ("panel-decision", "Panel decision", "A panel's decision on a service line (completed), "
     "or a line waiting for one (requested): the panel agenda."),
    ("end-decision", "Joint end decision", "The joint decision to end s117 aftercare "
     "(rules D1-D5); made by the $end-entitlement operation."),
    ("end-proposal", "Proposal to end aftercare", "One responsible body's proposal to end "
     "s117 aftercare, made at a review (POST, status requested, requester the proposing "
     "body), waiting for the other body to agree or decline (rule D1). Owned by the body that "
     "must answer: it updates the Task to accepted (agree: the entitlement ends and the Task "
     "is completed) or rejected (decline, with statusReason); the proposer may withdraw it "
     "(cancelled).")]

TASK_PARAMETERS: list[Concept] = [
    ("attendee", "Attendee", "Someone who took part: name (role, organisation)."),
    ("person-involved", "Person involved", "The person took part."),
    ("carer-involved", "Carer or advocate involved", "A carer or advocate took part."),
    ("reviewed-by", "Reviewed by", "The organisation that held the review."),
    ("outcome", "Outcome", "What was decided."),
    ("needs-arise-from-disorder", "Needs arise from the mental disorder",
     "The review found the person's needs still arise from their mental disorder."),
    ("rule", "Rule", "The rule the task follows from (s117-rule)."),
    ("reason", "Reason", "Why, in words (on a proposal to end aftercare: an s117-end-reason "
     "code)."),
    ("local-authority", "Local authority", "The council of ordinary residence."),
    ("decided-by", "Decided by", "Who decided (on a proposal to end aftercare or its "
     "answer: who proposed or answered within the body; default the token's subject)."),
    ("decided-by-organisation", "Decided by organisation", "The council that decided."),
    ("evidence", "Evidence", "The evidence the decision rests on."),
    ("party", "Party", "A council in the dispute."),
    ("interim-lead", "Interim lead", "The council that arranges aftercare meanwhile."),
    ("note", "Note", "Free text."),
    ("resolved-local-authority", "Resolved: council of ordinary residence",
     "The council the resolution names."),
    ("referred", "Referred", "When the dispute was referred to the Secretary of State."),
    ("service-line", "Service line", "The id of the plan's service line (activity.id)."),
    ("service-type", "Service type", "The line's service type."),
    ("weekly-cost", "Weekly cost", "The line's weekly cost."),
    ("panel-reason", "Panel reason", "Why the line goes to the panel."),
    ("member", "Panel member", "An organisation that took the decision."),
    ("la-agreed-by", "Council agreed by", "Who agreed for the responsible council."),
    ("la-agreed-on", "Council agreed on", "When the council agreed."),
    ("icb-agreed-by", "ICB agreed by", "Who agreed for the responsible ICB."),
    ("icb-agreed-on", "ICB agreed on", "When the ICB agreed."),
    ("moved-to-suitable-accommodation", "Moved to suitable accommodation",
     "Rule D4: moved from specialist to other suitable accommodation first."),
    ("end-date", "End date", "The formal date s117 aftercare ended (rule D5)."),
    ("notice-date", "Notice date", "Rule D8: the date of the joint notice in writing."),
    ("notice-given-by", "Notice given by", "Rule D8: a body giving the notice."),
    ("notice-method", "Notice method", "Rule D8: how it was given (post, email, in-person, "
     "portal)."),
    ("notice-document", "Notice document", "Rule D8: the notice."),
    ("proposed-by", "Proposed by", "Who proposed ending aftercare, and for which body."),
    ("review-date", "Review date", "The review the proposal was made at (rule D1)."),
    ("responded-by", "Answered by", "Who agreed or declined for the other body."),
    ("agreed", "Agreed", "Whether the other body agreed (rule D1).")]

BUSINESS_STATUSES: list[Concept] = [
    ("due", "Due", "Not yet due."),
    ("overdue", "Overdue", "Past its due date (rule R3)."),
    ("open", "Open", "A dispute not yet referred or resolved."),
    ("referred-to-secretary-of-state", "Referred to the Secretary of State",
     "Care Act s40 via s117(4)."),
    ("resolved", "Resolved", "The dispute was resolved."),
    ("proposed", "Proposed", "A proposal to end aftercare waits for the other body (D1)."),
    ("agreed", "Agreed", "The other body agreed: aftercare ended jointly (D1)."),
    ("withdrawn", "Withdrawn", "The proposing body withdrew its proposal to end aftercare."),
    # "declined" is shared by panel decisions and end proposals, so it is defined for both.
    *((c, d, f"Panel: {f}") for c, d, f in PANEL_STATUSES if c not in ("not-required", "declined")),
    ("declined", "Declined", "Panel: the panel declined it. End proposal: the other body declined "
     "to end aftercare (D1).")]

FLAGS: list[Concept] = [
    ("entitled", "Entitled to free s117 aftercare", "Services meeting needs arising from the "
     "mental disorder are free (s117, rule F1)."),
    ("responsibility-disputed", "Responsibility disputed", "Councils dispute ordinary "
     "residence; an interim lead arranges aftercare meanwhile (rule L5)."),
    ("review-overdue", "Review overdue", "The s117 review is past its due date (rule R3)."),
    ("no-aftercare-plan", "No aftercare plan", "Entitled with no aftercare plan recorded on "
     "the discharge date (rule O1; the Ombudsman's Sarah case, LGSCO 24 015 710)."),
    ("no-assessment", "No assessment", "No assessment or s117 meeting within the first-review "
     "window after discharge (rule O2; LGSCO Ealing 25 000 832)."),
    ("entitlement-not-acknowledged", "Entitlement not acknowledged", "A qualifying discharge "
     "the responsible bodies have not acknowledged within the first-review window (rule O3; "
     "LGSCO Northamptonshire ICB 22 009 742a)."),
    ("charged-for-s117", "Charged for s117 services", "The person was charged for services "
     "s117 makes free, or an s117 service moved to Care Act funding without an end decision "
     "(rule O4; LGSCO York 25 002 735, Manchester 23 019 512)."),
    ("no-care-coordinator", "No care coordinator", "The aftercare plan names no care "
     "coordinator (MHA Code of Practice 34.5).")]

def rule_concepts() -> list[Concept]:
    """One concept per rule id: the short title from RULES.md and the citation the engine
    shows (register/rules/citations.py, the register's own catalogue)."""
    from register.rules.citations import CITATIONS

    return [(rule, title, CITATIONS.get(rule, f"{title} (RULES.md {rule})"))
            for rule, title in TITLES.items()]


TITLES = {
    "E1": "Qualifying detention", "E2": "Planning starts at admission", "E3": "CTO",
    "E4": "s17 leave", "E5": "Conversion", "E6": "All ages", "E7": "Review cases",
    "L1": "Ordinary residence", "L2": "Out-of-area placement does not move it",
    "L3": "Re-detention resets it (Worcestershire)",
    "L4": "Informal or s2 readmission does not end it", "L5": "Disputes",
    "L6": "Rule sets by effective date",
    "L7": "Mental Health Act 2025 deeming (switchable)", "N1": "PCT era (before 2013-04-01)",
    "N2": "2013-2016: CCG of the current GP registration",
    "N3": "2016-2022: CCG of ordinary residence; the 2016 freeze",
    "N4": "2020-2022: commissioning and paying CCG",
    "N5": "From 2022-07-01: ICB with core responsibility when the application was made",
    "N5a": "In detention on 2022-07-01 or detained again: ICB with core responsibility then",
    "N5b": "Discharged before 2022-07-01: ICB with core responsibility on 2022-07-01",
    "N5c": "NHS England secure services", "N5d": "Part 3 detention from 2022-07-01",
    "N6": "Organisations change: dated succession", "N7": "ICB keeps it through re-detention",
    "N8": "Needs review: transitional and special cases", "F1": "Free",
    "F2": "Every service line says its basis",
    "F3": "Local authorities cannot fund health services", "F4": "Accommodation",
    "F5": "Personal budgets", "R1": "First review", "R2": "Later reviews", "R3": "Overdue",
    "D1": "Joint decision", "D2": "Never while on a CTO", "D3": "Reasons that are not enough",
    "D4": "Accommodation first", "D5": "Record it", "D6": "Reinstate",
    "D7": "Automatic end on re-detention (LA side only)",
    "D8": "Joint written notice (switchable)", "O1": "No plan at discharge",
    "O2": "No assessment in the first-review window", "O3": "Entitlement not recorded",
    "O4": "Charged for s117 services", "O5": "Transfer the package on a move"}


def code_systems() -> list[Resource]:
    return [
        code_system(url.CS_EVENT, "S117 Event", "Events a trust EPR sends in a FHIR message "
                    "($process-message), the same as the HL7 v2 ADT events.", EVENTS),
        code_system(url.CS_EPISODE_TYPE, "S117 Episode Type", "The type of an S117Entitlement.",
                    [("s117-aftercare", "Section 117 aftercare",
                      "Entitlement to free aftercare under s117 Mental Health Act 1983.")]),
        code_system(url.CS_FUNDING_BASIS, "S117 Funding Basis",
                    "What a service line is funded under (rule F2).", FUNDING_BASES),
        code_system(url.CS_END_REASON, "S117 End Reason",
                    "Reasons given for ending s117 aftercare (rules D1-D3).", END_REASONS),
        code_system(url.CS_NEED_CATEGORY, "S117 Need Category",
                    "The sixteen aspects of need of the MHA Code of Practice para 34.19.",
                    [(c, d.split(",")[0].rstrip("."), d) for c, d in NEED_CATEGORIES.items()]),
        code_system(url.CS_RULE, "S117 Rule", "The rules the register applies, each with the "
                    "law or guidance it rests on.", rule_concepts()),
        code_system(url.CS_COVERAGE_TYPE, "S117 Coverage Type",
                    "Which side of s117 aftercare a Coverage is.",
                    [("s117-social-care", "Section 117 social care",
                      "The local authority's responsibility."),
                     ("s117-health", "Section 117 health care", "The ICB's responsibility.")]),
        code_system(url.CS_SERVICE_TYPE, "S117 Service Type",
                    "Types of aftercare service on a plan (the issue's list; seeds 000, 004).",
                    SERVICE_TYPES),
        code_system(url.CS_PANEL_STATUS, "S117 Panel Status",
                    "Where a service line's panel decision stands.", PANEL_STATUSES),
        code_system(url.CS_TASK_TYPE, "S117 Task Type", "The kinds of s117 casework task.",
                    TASK_TYPES),
        code_system(url.CS_TASK_PARAMETER, "S117 Task Parameter",
                    "Types of the inputs and outputs of an S117Task.", TASK_PARAMETERS),
        code_system(url.CS_BUSINESS_STATUS, "S117 Business Status",
                    "Where an S117Task stands beyond its FHIR status.", BUSINESS_STATUSES),
        code_system(url.CS_FLAG, "S117 Flag", "Alerts on a person's s117 record.", FLAGS),
        code_system(url.CS_ENTITLEMENT_EVENT, "S117 Entitlement Event",
                    "What can happen to an s117 entitlement: the events of the register's "
                    "subscription topics and AMQP routing keys.", ENTITLEMENT_EVENTS),
        code_system(url.CS_CHANNEL_TYPE, "S117 Channel Type",
                    "Subscription channels the register offers beyond the R4 ones.",
                    [("amqp", "AMQP queue", "Notifications are published to the "
                      "subscriber's own durable queue on the register's RabbitMQ (AMQP "
                      "0-9-1), bound to the exchange s117.notifications.")])]


# Plan statuses the register takes: a subset of FHIR request-status.
PLAN_STATUS = _common("ValueSet", "s117-plan-status", url.vs("s117-plan-status"),
                      "S117 Plan Status", "The statuses an aftercare plan may have: draft, "
                      "active (in force; at most one per entitlement), completed, revoked.")
PLAN_STATUS["compose"] = {"include": [{"system": "http://hl7.org/fhir/request-status",
                                       "concept": [{"code": c} for c in (
                                           "draft", "active", "completed", "revoked")]}]}



ENTITLEMENT_EVENTS: list[Concept] = [
    ("planned", "Planned", "A qualifying detention began: aftercare planning starts (E2)."),
    ("started", "Started", "The person left hospital (or began a CTO or s17 leave with a "
     "plan): s117 aftercare is active."),
    ("updated", "Updated", "Details of the entitlement changed, or it was cancelled because "
     "the admission it rested on was cancelled."),
    ("responsibility-changed", "Responsibility changed", "The responsible local authority "
     "or ICB changed; the bodies it moved from hear it too."),
    ("ended", "Ended", "Aftercare ended by a joint decision (D1-D5) or by death."),
    ("reinstated", "Reinstated", "Ended aftercare was reinstated (D6)."),
    ("review-due", "Review due", "The next s117 review falls due soon (R1, R2)."),
    ("review-overdue", "Review overdue", "The review was not recorded by its due date (R3)."),
    ("placement-out-of-area", "Placement out of area", "The person now lives outside the "
     "responsible local authority; responsibility does not move (L2)."),
    ("needs-review", "Needs review", "The register cannot decide safely: an officer must "
     "review (e.g. N8)."),
    ("flag-raised", "Flag raised", "A failure the Ombudsman keeps finding was raised on the "
     "entitlement (O1-O4); the flag code is in the detail."),
    ("flag-cleared", "Flag cleared", "An Ombudsman flag (O1-O4) was cleared by a change of "
     "facts (a plan, an assessment, a refund)."),
    ("end-proposed", "End proposed", "One responsible body proposed ending aftercare at a "
     "review; the other must agree or decline (D1)."),
    ("end-declined", "End declined", "The other responsible body declined a proposed end, "
     "with its reason: aftercare goes on (D1)."),
    ("end-withdrawn", "End withdrawn", "The body that proposed ending aftercare withdrew the "
     "proposal before the other answered: nothing is left to answer (D1)."),
    ("dispute-opened", "Dispute opened", "Councils dispute ordinary residence; the interim "
     "lead arranges aftercare meanwhile (L5)."),
    ("owner-changed", "Owner changed", "The law moved the duty (L3 re-detention in another "
     "region, N6 succession into another region's ICB): another regional register owns the "
     "record now and takes its casework (federation).")]


# -- search parameters and operations ----------------------------------------------------------

def search_parameter(code: str, kind: str, description: str, expression: str | None,
                     base: str = "EpisodeOfCare", target: str | None = None) -> Resource:
    """One search parameter; those of EpisodeOfCare keep the plain code as their id."""
    ident = code if base == "EpisodeOfCare" else f"{base.lower()}-{code}"
    sp = _common("SearchParameter", ident, f"{url.SEARCH_PARAMETER}/{ident}",
                 f"{base} {code}", description)
    del sp["title"]  # SearchParameter has no title in R4
    sp.update({"code": code, "base": [base], "type": kind})
    if expression:
        sp["expression"] = expression
    if target:
        sp["target"] = [target]
    return sp


def _ext_value(ext_url: str, kind: str) -> str:
    return f"EpisodeOfCare.extension('{ext_url}').value.ofType({kind})"


SEARCH_PARAMETERS = [
    search_parameter("responsible-la", "token", "Entitlements a local authority is responsible "
                     "for, by GSS code.",
                     _ext_value(url.EXT_RESPONSIBLE_LA, "Reference") + ".identifier"),
    search_parameter("responsible-icb", "token", "Entitlements an ICB is responsible for, by "
                     "ODS code (also the paying ICB under rule N4).",
                     _ext_value(url.EXT_RESPONSIBLE_ICB, "Reference") + ".identifier"),
    search_parameter("residence-la", "token", "Entitlements of people who live in a local "
                     "authority now, by GSS code.", _ext_value(url.EXT_RESIDENCE_LA,
                                                               "Identifier")),
    search_parameter("out-of-area", "special", "true: the person lives outside the "
                     "responsible local authority (rule L2); false: inside it.", None)]

# Casework: the responsible bodies come from the entitlement a plan, task or flag belongs
# to, which none of them carries as an element, so those have no expression.
CASEWORK_SEARCH_PARAMETERS = [
    search_parameter("entitlement", "reference", "Plans of an entitlement "
                     "(EpisodeOfCare/<id>); `_include`/`_revinclude` CarePlan:entitlement.",
                     "CarePlan.supportingInfo", "CarePlan", "EpisodeOfCare"),
    search_parameter("responsible-la", "token", "Plans of entitlements a council is "
                     "responsible for, by GSS code.", None, "CarePlan"),
    search_parameter("responsible-icb", "token", "Plans of entitlements an ICB is "
                     "responsible for, by ODS code.", None, "CarePlan"),
    search_parameter("responsible-icb", "token", "Tasks on entitlements an ICB is "
                     "responsible for, by ODS code (`owner` is the council).", None, "Task"),
    search_parameter("code", "token", "Flags by s117-flag code.", "Flag.code", "Flag"),
    search_parameter("status", "token", "active or inactive, as of today.", "Flag.status",
                     "Flag"),
    search_parameter("responsible-la", "token", "Flags on entitlements a council is "
                     "responsible for, by GSS code.", None, "Flag"),
    search_parameter("responsible-icb", "token", "Flags on entitlements an ICB is "
                     "responsible for, by ODS code.", None, "Flag")]

Param = tuple[str, str, int, str, str, str]  # name, use, min, max, type, documentation


def operation(ident: str, title: str, description: str, resources: list[str], *,
              system: bool, type_level: bool, instance: bool, affects_state: bool,
              parameters: list[Param], base: str | None = None,
              code: str | None = None) -> Resource:
    """`code` (what follows the `$`) is the id unless given: the Subscription operations
    are `$status` and `$events`, ids that would clash with nothing but say little."""
    op = _common("OperationDefinition", ident, f"{url.OPERATION}/{ident}", title, description)
    op.update({"kind": "operation", "code": code or ident, "affectsState": affects_state,
               "system": system, "type": type_level, "instance": instance})
    if resources:
        op["resource"] = resources
    if base:
        op["base"] = base
    out = []
    for name, use, low, high, kind, doc in parameters:
        item: Resource = {"name": name, "use": use, "min": low, "max": high,
                          "documentation": doc}
        if kind.startswith("parts:"):
            # `name=Type?` is an optional part, `name=Type*` an optional repeating one.
            item["part"] = [{"name": p, "use": use, "min": 0 if t[-1] in "?*" else 1,
                             "max": "*" if t.endswith("*") else "1", "type": t.rstrip("?*")}
                            for p, t in (pair.split("=") for pair in kind[6:].split(","))]
        elif kind == "token":
            # R4: a search-style parameter is a string with its search type.
            item.update({"type": "string", "searchType": "token"})
        else:
            item["type"] = kind
        out.append(item)
    op["parameter"] = out
    return op


def _body(name: str, documentation: str) -> Param:
    return (name, "out", 0, "1", "Identifier", documentation)


OPERATIONS = [
    operation("s117-responsibility", "S117 Responsibility",
              "Who is responsible for this person's s117 aftercare, and why, on a date.",
              ["Patient"], system=False, type_level=True, instance=False, affects_state=False,
              parameters=[
                  ("identifier", "in", 1, "1", "token",
                   "https://fhir.nhs.uk/Id/nhs-number|<NHS number>"),
                  ("date", "in", 0, "1", "date", "the answer as it stood on this day (default "
                   "today)"),
                  ("entitled", "out", 1, "1", "boolean", "entitled to s117 aftercare now"),
                  ("status", "out", 1, "1", "code", "planned, active, ended, cancelled, "
                   "not-entitled"),
                  _body("local-authority", "responsible local authority (GSS code)"),
                  _body("icb", "the NHS body holding the duty on the date, after succession "
                        "(a CCG before 2022-07-01)"),
                  _body("original-body", "the body the rule named, before succession (N6)"),
                  _body("commissioning-body", "rule N4: commissioning body"),
                  _body("paying-body", "rule N4: paying body"),
                  _body("residence-local-authority", "where the person lives now"),
                  ("out-of-area", "out", 0, "1", "boolean", "lives outside the responsible LA"),
                  ("rule-set", "out", 0, "1", "code", "the dated rule set used"),
                  ("basis", "out", 0, "*", "parts:rule=Coding,reason=string,citation=string",
                   "one per rule applied: rule id, reason, citation"),
                  ("needs-review", "out", 0, "*", "string", "why an officer must review"),
                  ("next-review-due", "out", 0, "1", "date", "when the next review is due"),
                  ("review-overdue", "out", 0, "1", "boolean", "the review is overdue (R3)"),
                  ("entitlement", "out", 0, "1", "Reference", "the EpisodeOfCare"),
                  ("flag", "out", 0, "*", "code", "s117-flag codes in force on the day "
                   "(the Ombudsman's O1-O4 among them)"),
                  ("as-of", "out", 1, "1", "date", "the day the answer is for"),
                  ("history", "out", 0, "*",
                   "parts:from=date,to=date?,local-authority=Identifier?,icb=Identifier?,"
                   "original-body=Identifier?,rule=Coding?,needs-review=string*",
                   "one per segment of the holder timeline (RULES.md N), oldest first")]),
    operation("end-entitlement", "End S117 Entitlement",
              "Record the joint decision to end s117 aftercare; refused under rules D1-D4.",
              ["EpisodeOfCare"], system=False, type_level=False, instance=True,
              affects_state=True, parameters=[
                  ("decision-date", "in", 1, "1", "date", "date of the joint decision, at a "
                   "review (rule D1)"),
                  ("la-agreed", "in", 1, "1", "boolean", "the responsible LA agreed"),
                  ("la-agreed-by", "in", 0, "1", "string", "who agreed for the LA (rule D1: "
                   "required)"),
                  ("la-agreed-on", "in", 0, "1", "date", "when the LA agreed (rule D1: "
                   "required)"),
                  ("icb-agreed", "in", 1, "1", "boolean", "the responsible ICB agreed"),
                  ("icb-agreed-by", "in", 0, "1", "string", "who agreed for the ICB (rule D1: "
                   "required)"),
                  ("icb-agreed-on", "in", 0, "1", "date", "when the ICB agreed (rule D1: "
                   "required)"),
                  ("person-involved", "in", 1, "1", "boolean", "the person was involved"),
                  ("carer-involved", "in", 0, "1", "boolean", "a carer or advocate was "
                   "involved (omit if the person has none)"),
                  ("reason", "in", 1, "*", "Coding", "s117-end-reason codes"),
                  ("note", "in", 0, "1", "string", "free text"),
                  ("moved-to-suitable-accommodation", "in", 0, "1", "boolean",
                   "rule D4: moved from specialist to other suitable accommodation"),
                  ("end-date", "in", 0, "1", "date", "rule D5: the formal date s117 aftercare "
                   "ends (default the decision date)"),
                  ("notice-date", "in", 0, "1", "date", "rule D8 (MHA 2025 s46(2), when "
                   "switched on): the date of the joint written notice to the person"),
                  ("notice-given-by", "in", 0, "*", "string", "rule D8: the bodies giving "
                   "the notice (council GSS and ICB ODS codes: both)"),
                  ("notice-method", "in", 0, "1", "code", "rule D8: how it was given: post, "
                   "email, in-person, portal"),
                  ("notice-document", "in", 0, "1", "Attachment", "rule D8: the notice "
                   "(title and url, contentType, hash)"),
                  ("return", "out", 1, "1", "EpisodeOfCare", "the ended entitlement")]),
    operation("record-charge", "Record a Charge for S117 Services",
              "The person was charged for services s117 makes free (rule O4): the period, "
              "the amount and who charged; the same charge-id again records the refund. "
              "Raises the charged-for-s117 Flag until refunded in full.",
              ["EpisodeOfCare"], system=False, type_level=False, instance=True,
              affects_state=True, parameters=[
                  ("charge-id", "in", 1, "1", "string", "the council's id of the charge"),
                  ("charged-from", "in", 1, "1", "date", "first day charged"),
                  ("charged-to", "in", 0, "1", "date", "last day charged (absent: still "
                   "charged)"),
                  ("amount", "in", 1, "1", "decimal", "the amount charged, in pounds"),
                  ("charged-by", "in", 0, "1", "string", "who charged (GSS or ODS code)"),
                  ("service-line", "in", 0, "1", "string", "the plan's service line charged "
                   "for"),
                  ("refunded-amount", "in", 0, "1", "decimal", "the refund with any interest, "
                   "in pounds"),
                  ("refunded-on", "in", 0, "1", "date", "when the refund was paid"),
                  ("note", "in", 0, "1", "string", "free text"),
                  ("return", "out", 1, "1", "EpisodeOfCare", "the entitlement")]),
    operation("reinstate", "Reinstate S117 Entitlement",
              "Reinstate an ended entitlement whose needs arose again (rule D6).",
              ["EpisodeOfCare"], system=False, type_level=False, instance=True,
              affects_state=True, parameters=[
                  ("date", "in", 1, "1", "date", "the day aftercare is needed again"),
                  ("reason", "in", 1, "1", "string", "why"),
                  ("return", "out", 1, "1", "EpisodeOfCare", "the reinstated entitlement")]),
    operation("process-message", "Process a trust message",
              "A FHIR message Bundle from a trust EPR (events of the s117-event code system) "
              "becomes register commands, applied once per message id.", [], system=True,
              type_level=False, instance=False, affects_state=True,
              base="http://hl7.org/fhir/OperationDefinition/MessageHeader-process-message",
              parameters=[("content", "in", 1, "1", "Bundle", "the message Bundle"),
                          ("return", "out", 1, "1", "Bundle", "the response message")]),
    operation("validate", "Validate a resource",
              "Check a resource against base FHIR R4 and the register's profiles (its "
              "meta.profile, or the profile given).", [], system=True, type_level=True,
              instance=False, affects_state=False,
              base="http://hl7.org/fhir/OperationDefinition/Resource-validate",
              parameters=[("resource", "in", 1, "1", "Resource", "the resource to check"),
                          ("profile", "in", 0, "1", "uri", "check against this profile"),
                          ("return", "out", 1, "1", "OperationOutcome", "what is wrong, "
                           "with the element path of each issue")]),
    operation("subscription-status", "Subscription Status",
              "The status of one or more Subscriptions: events since the subscription "
              "started, the last one the subscriber acknowledged, the last error and the "
              "latest delivery attempts.", ["Subscription"], system=False, type_level=True,
              instance=True, affects_state=False,
              base=f"{url.BACKPORT_OPERATION}/backport-subscription-status", code="status",
              parameters=[("id", "in", 0, "*", "id", "type level: these Subscriptions "
                           "(default: all)"),
                          ("status", "in", 0, "*", "code", "type level: only Subscriptions "
                           "with this status"),
                          ("return", "out", 1, "1", "Bundle", "searchset Bundle of "
                           "backport-subscription-status-r4 Parameters, one per "
                           "Subscription")]),
    operation("subscription-events", "Subscription Events",
              "Events recorded for a Subscription, by event number: how a subscriber that "
              "was down recovers every event it missed.", ["Subscription"], system=False,
              type_level=False, instance=True, affects_state=False,
              base=f"{url.BACKPORT_OPERATION}/backport-subscription-events", code="events",
              parameters=[("eventsSinceNumber", "in", 0, "1", "string", "first event number "
                           "(inclusive; default 1)"),
                          ("eventsUntilNumber", "in", 0, "1", "string", "last event number "
                           "(inclusive; default the latest, at most 1000 events per call)"),
                          ("content", "in", 0, "1", "code", "empty, id-only or full-resource "
                           "(default: the Subscription's)"),
                          ("return", "out", 1, "1", "Bundle", "history Bundle: the "
                           "subscription status, then the events")]),
    operation("everything", "Patient everything",
              "The person's whole s117 record: Patient, Encounters, EpisodeOfCares, Coverages "
              "and the Organizations they refer to.", ["Patient"], system=False,
              type_level=False, instance=True, affects_state=False,
              base="http://hl7.org/fhir/OperationDefinition/Patient-everything",
              parameters=[("return", "out", 1, "1", "Bundle", "searchset Bundle")]),
]


# -- subscription topics (R5 SubscriptionTopic on R4 Basic, Backport IG 1.1) ------------------

def _topic_ext(name: str, **value: Any) -> Resource:
    return {"url": f"{url.R5_TOPIC_EXT}.{name}", **value}


def _parts(name: str, *parts: tuple[str, str, Any]) -> Resource:
    return {"url": f"{url.R4B_TOPIC_EXT}.{name}",
            "extension": [{"url": p, key: v} for p, key, v in parts]}


FILTER_DOCS = {
    "responsible-icb": "the ICB responsible (ODS code), also the paying ICB under rule N4 and, "
                       "on responsibility-changed, the ICB it moved from",
    "responsible-la": "the local authority responsible (GSS code), also, on "
                      "responsibility-changed, the one it moved from",
    "residence-la": "the local authority the person lives in now (GSS code)",
    "event": "what happened (s117-entitlement-event code; comma-separated for any of several)"}


def topic(name: str, title: str, description: str, events: list[str],
          filters: list[str]) -> Resource:
    canonical = url.topic(name)
    displays = {code: display for code, display, _ in ENTITLEMENT_EVENTS}
    extensions = [
        _topic_ext("url", valueUri=canonical), _topic_ext("version", valueString=VERSION),
        _topic_ext("name", valueString=re.sub(r"[^A-Za-z0-9]", "", title.title())),
        _topic_ext("title", valueString=title), _topic_ext("date", valueDateTime=DATE),
        _topic_ext("description", valueMarkdown=description),
        _parts("resourceTrigger",
               ("description", "valueMarkdown", "An entitlement (S117Entitlement) is derived "
                "anew by the register's rules and differs from before."),
               ("resource", "valueUri", "http://hl7.org/fhir/StructureDefinition/"
                "EpisodeOfCare"),
               ("supportedInteraction", "valueCode", "create"),
               ("supportedInteraction", "valueCode", "update"))]
    extensions += [_parts("eventTrigger",
                          ("description", "valueMarkdown", displays[code]),
                          ("event", "valueCodeableConcept", {"coding": [
                              {"system": url.CS_ENTITLEMENT_EVENT, "code": code,
                               "display": displays[code]}]}),
                          ("resource", "valueUri", "http://hl7.org/fhir/StructureDefinition/"
                           "EpisodeOfCare")) for code in events]
    extensions += [_parts("canFilterBy", ("description", "valueMarkdown", FILTER_DOCS[f]),
                          ("resource", "valueUri", "EpisodeOfCare"),
                          ("filterParameter", "valueString", f)) for f in filters]
    extensions.append(_parts("notificationShape", ("resource", "valueUri", "EpisodeOfCare")))
    return {"resourceType": "Basic", "id": name, "extension": extensions,
            "modifierExtension": [_topic_ext("status", valueCode="active")],
            "code": {"coding": [{"system": url.FHIR_TYPES, "code": "SubscriptionTopic"}]}}


def topics() -> list[Resource]:
    from register.subscriptions import TOPIC_EVENTS, TOPIC_FILTERS, Topic

    order = [code for code, _, _ in ENTITLEMENT_EVENTS]
    about = {Topic.ENTITLEMENT_CHANGE: (
        "S117 Entitlement Change", "Every change to an s117 entitlement: planned, started, "
        "ended, reinstated, a change of responsible body, an out-of-area placement, a review "
        "falling due or overdue, or a case needing review. Filter by the responsible ICB or "
        "local authority, where the person lives, or the event."),
        Topic.REVIEW_OVERDUE: (
        "S117 Review Overdue", "An s117 review was not recorded by its due date (rule R3): "
        "for monitoring review compliance.")}
    return [topic(t.value, *about[t], sorted((e.value for e in TOPIC_EVENTS[t]),
                                             key=order.index), list(TOPIC_FILTERS[t]))
            for t in Topic]


# -- the capability statement ------------------------------------------------------------------

CLINICAL = {
    "Patient": (url.PATIENT, ["read", "vread", "history-instance", "search-type", "create",
                              "update"],
                [("_id", "token", None), ("identifier", "token", None)], ["everything",
                                                                          "s117-responsibility"]),
    "Encounter": (url.DETENTION, ["read", "vread", "history-instance", "search-type"],
                  [("patient", "reference", None)], []),
    "EpisodeOfCare": (url.ENTITLEMENT, ["read", "vread", "history-instance", "history-type",
                                        "search-type"],
                      [("_id", "token", None), ("patient", "reference", None),
                       ("status", "token", None), ("date", "date", None),
                       ("_lastUpdated", "date", None),
                       *((sp["code"], sp["type"], sp["url"]) for sp in SEARCH_PARAMETERS)],
                      ["end-entitlement", "reinstate", "record-charge"]),
    "Coverage": (url.FUNDING, ["read", "vread", "history-instance", "search-type"],
                 [("beneficiary", "reference", None)], []),
    "Organization": (url.UKCORE_ORGANIZATION, ["read", "search-type"],
                     [("_id", "token", None), ("identifier", "token", None)], []),
    "CarePlan": (url.AFTERCARE_PLAN, ["read", "vread", "history-instance", "search-type",
                                      "create", "update"],
                 [("_id", "token", None), ("patient", "reference", None),
                  ("status", "token", None),
                  *((sp["code"], sp["type"], sp["url"]) for sp in CASEWORK_SEARCH_PARAMETERS
                    if sp["base"] == ["CarePlan"])], []),
    "Task": (url.TASK, ["read", "search-type", "create", "update"],
             [("_id", "token", None), ("patient", "reference", None), ("code", "token", None),
              ("status", "token", None), ("business-status", "token", None),
              ("owner", "reference", None), ("focus", "reference", None),
              *((sp["code"], sp["type"], sp["url"]) for sp in CASEWORK_SEARCH_PARAMETERS
                if sp["base"] == ["Task"])], []),
    "Flag": (url.FLAG, ["read", "search-type"],
             [("_id", "token", None), ("patient", "reference", None),
              *((sp["code"], sp["type"], sp["url"]) for sp in CASEWORK_SEARCH_PARAMETERS
                if sp["base"] == ["Flag"])], []),
    "Provenance": ("http://hl7.org/fhir/StructureDefinition/Provenance",
                   ["read", "search-type"],
                   [("target", "reference", None), ("patient", "reference", None),
                    ("agent", "reference", None), ("recorded", "date", None)], []),
    "AuditEvent": ("http://hl7.org/fhir/StructureDefinition/AuditEvent",
                   ["read", "search-type"],
                   [("entity", "reference", None), ("patient", "reference", None),
                    ("agent", "reference", None), ("date", "date", None),
                    ("action", "token", None), ("outcome", "token", None)], []),
}
# Includes each type offers, and what tells a client how versions and writes work.
INCLUDES = {"EpisodeOfCare": (["EpisodeOfCare:patient"],
                              ["Coverage:beneficiary", "CarePlan:entitlement", "Task:focus"]),
            "CarePlan": (["CarePlan:entitlement", "CarePlan:patient"], []),
            "Task": (["Task:focus", "Task:patient"], []),
            "Flag": (["Flag:patient"], [])}
# Tasks and flags are derived from the person's record, and Provenance and AuditEvent are
# records of what happened: none carries versions of its own. A Task shows its person's
# record's version, which an update may send as If-Match (no history is kept for it).
UNVERSIONED = {"Task", "Flag", "Provenance", "AuditEvent"}
VERSIONED_UPDATE = {"Task"}
CONFORMANCE = ["StructureDefinition", "CodeSystem", "ValueSet", "SearchParameter",
               "OperationDefinition"]


SECURITY = {
    "cors": False,
    "service": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
        "code": "SMART-on-FHIR"}]}],
    "description": "OAuth 2.0 bearer tokens (JWT, RS256 or ES256) from the region's identity "
                   "provider, with the claims `org` (the ODS or GSS code of the caller's "
                   "organisation), `org_type` (trust, la, icb or admin) and `scope` (SMART v2, "
                   "e.g. `system/EpisodeOfCare.rs`). A council sees the people it is "
                   "responsible for and those living in its area, an ICB those it is "
                   "responsible for, a trust those it has sent; AuditEvent is for admins. "
                   "The CapabilityStatement, conformance resources, topics and OpenAPI "
                   "document need no token."}


def capability_statement() -> Resource:
    cs = _common("CapabilityStatement", "s117-register", f"{url.BASE}/CapabilityStatement/"
                 "s117-register", "S117 Register FHIR API", "The shared regional register of "
                 "Section 117 aftercare: what this server does.")
    resources = []
    for kind, (profile_url, interactions, params, ops) in CLINICAL.items():
        versioned = kind not in UNVERSIONED
        entry: Resource = {"type": kind, "profile": profile_url,
                           "interaction": [{"code": i} for i in interactions],
                           "versioning": "versioned" if versioned else "versioned-update"
                           if kind in VERSIONED_UPDATE else "no-version",
                           "readHistory": versioned,
                           "searchParam": [{"name": n, "type": t, **({"definition": d} if d
                                                                     else {})}
                                           for n, t, d in params]}
        if "update" in interactions:
            entry.update({"updateCreate": False, "conditionalCreate": kind == "Patient",
                          "conditionalUpdate": False})
        includes, revincludes = INCLUDES.get(kind, ([], []))
        if includes:
            entry["searchInclude"] = includes
        if revincludes:
            entry["searchRevInclude"] = revincludes
        if ops:
            entry["operation"] = [{"name": o, "definition": f"{url.OPERATION}/{o}"}
                                  for o in ops]
        resources.append(entry)
    resources += [{"type": kind, "interaction": [{"code": "read"}, {"code": "search-type"}],
                   "searchParam": [{"name": "url", "type": "uri"}]} for kind in CONFORMANCE]
    resources += [subscription_capability(), {
        "type": "Basic", "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": "code", "type": "token"},
                        {"name": "url", "type": "uri", "documentation": "a topic by its "
                         "canonical URL"}]}]
    cs.update({"kind": "instance", "software": {"name": "s117-register", "version": VERSION},
               "implementation": {"description": "s117-register FHIR API"},
               "fhirVersion": url.FHIR_VERSION, "format": ["json", "application/fhir+json"],
               "rest": [{"mode": "server", "security": SECURITY, "resource": resources,
                         "interaction": [{"code": "transaction"}, {"code": "batch"}],
                         "operation": [{"name": name, "definition": f"{url.OPERATION}/{name}"}
                                       for name in ("process-message", "validate")]}]})
    return cs


def subscription_capability() -> Resource:
    """Subscription (Backport IG 1.1, R4): CRUD, search by status, $status and $events, and
    the topics a subscriber may choose (capabilitystatement-subscriptiontopic-canonical)."""
    from register.subscriptions import Topic

    return {"type": "Subscription",
            "extension": [{"url": url.BACKPORT_TOPIC_CANONICAL, "valueCanonical": url.topic(t)}
                          for t in Topic],
            "profile": "http://hl7.org/fhir/StructureDefinition/Subscription",
            "supportedProfile": [url.BACKPORT_SUBSCRIPTION],
            "interaction": [{"code": c} for c in ("read", "create", "update", "delete",
                                                  "search-type")],
            "versioning": "versioned-update", "updateCreate": False,
            "searchParam": [{"name": "_id", "type": "token"},
                            {"name": "status", "type": "token"}],
            "operation": [{"name": name, "definition": f"{url.OPERATION}/subscription-{name}"}
                          for name in ("status", "events")]}


def all_resources() -> Iterator[Resource]:
    yield from topics()
    yield from PROFILES
    yield from EXTENSIONS
    for system in code_systems():
        yield system
        yield value_set(system)
    yield PLAN_STATUS
    yield from SEARCH_PARAMETERS
    yield from CASEWORK_SEARCH_PARAMETERS
    yield from OPERATIONS
    yield capability_statement()


def rendered() -> dict[str, str]:
    """File name -> text, exactly as written to `resources/`."""
    return {f"{r['resourceType']}-{r['id']}.json": json.dumps(r, indent=2, ensure_ascii=False)
            + "\n" for r in all_resources()}


def main() -> None:
    FOLDER.mkdir(exist_ok=True)
    files = rendered()
    for stale in FOLDER.glob("*.json"):
        if stale.name not in files:
            stale.unlink()
    for name, text in files.items():
        (FOLDER / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} resources to {FOLDER}")


if __name__ == "__main__":
    main()
