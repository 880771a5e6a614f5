"""The council batch file: one CSV (UTF-8, header row) whose `record` column says what each
row is. Every column is listed in COLUMNS with the records it applies to; a value in a column
that does not apply to the row's record is refused rather than ignored.

The column table in docs/council.md is written from COLUMNS (a test checks they agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from register.model import (
    HOUSING_BENEFIT,
    NEED_CATEGORIES,
    PERSON,
    AccommodationType,
    EndReason,
    FundingBasis,
    NoticeMethod,
    PanelOutcome,
    PlanStatus,
    ServiceType,
)

RECORDS = ("plan", "line", "review", "or-decision", "dispute", "panel", "address", "end",
           "charge", "end-proposal", "end-response", "end-withdrawal", "reinstatement")


@dataclass(frozen=True)
class Column:
    name: str
    records: tuple[str, ...]  # the records it applies to
    required: tuple[str, ...]  # ... and those it is required for
    meaning: str
    example: str


def _c(name: str, records: str, required: str, meaning: str, example: str) -> Column:
    return Column(name, tuple(records.split()), tuple(required.split()), meaning, example)


ALL = " ".join(RECORDS)
COLUMNS: tuple[Column, ...] = (
    _c("record", ALL, ALL, "what the row is: plan, line, review, or-decision, dispute, panel, "
       "address, end, charge, end-proposal, end-response, end-withdrawal or reinstatement", "line"),
    _c("nhs_number", ALL, ALL, "the person's NHS number (10 digits, valid check digit)",
       "9990000018"),
    _c("plan_id", "plan line panel", "plan line panel", "the council system's plan id; a "
       "line or panel row names the plan it belongs to", "CP-2024-0117"),
    _c("plan_status", "plan", "plan", "draft, active, completed or revoked (one active plan "
       "per entitlement)", "active"),
    _c("agreed_on", "plan", "", "date the plan was agreed (YYYY-MM-DD)", "2024-05-10"),
    _c("plan_ends_on", "plan", "", "date the plan ended", ""),
    _c("care_coordinator", "plan", "", "the care coordinator's name", "Dee Patel"),
    _c("coordinator_org", "plan", "", "the care coordinator's organisation (ODS or GSS code)",
       "R1A"),
    _c("needs", "plan", "", "needs assessed (Code of Practice 34.19 codes), each `:Y` if it "
       "arises from the mental disorder or `:N` if not, `;`-separated",
       "accommodation:Y;physical-health:N"),
    _c("line_id", "line panel", "line panel", "the service line's id within the plan", "L1"),
    _c("service_type", "line", "line", "residential-care, nursing-care, "
       "supported-accommodation, domiciliary, day-services, medication, "
       "psychological-therapy, employment-support, personal-health-budget, direct-payment, "
       "other", "supported-accommodation"),
    _c("provider", "line", "", "who provides the service", "Riverside Supported Living"),
    _c("description", "line", "", "the service in words", ""),
    _c("starts_on", "line", "", "date the service starts", "2024-05-10"),
    _c("ends_on", "line", "", "date the service ends", ""),
    _c("weekly_cost", "line", "", "cost per week in pounds", "1450.00"),
    _c("funding_basis", "line", "line", "s117, care-act, chc, fnc or s117a-top-up", "s117"),
    _c("funders", "line", "line", "who pays what share: `CODE=PERCENT;...` with council GSS "
       f"or NHS ODS codes, `{PERSON}` or `{HOUSING_BENEFIT}`; shares add up to 100 (F2)",
       "E06000019=60;QGH=40"),
    _c("meets_disorder_need", "line", "", "Y if the service meets a need arising from the "
       "mental disorder (default Y), N if not", "Y"),
    _c("health_care", "line", "", "Y or N to say whether the service is health care (F3); "
       "blank: by its service type", ""),
    _c("line_needs", "line", "", "the needs the service meets (need codes, `;`-separated)",
       "accommodation"),
    _c("requested_on", "line", "", "date funding was requested (required for personal health "
       "budgets and direct payments, F5)", ""),
    _c("review_on", "review end-proposal", "review end-proposal", "date the review was held "
       "(an end-proposal row: the review it was proposed at, D1)", "2024-06-20"),
    _c("attendees", "review", "", "who took part: `Name (role, ORG)`, `;`-separated",
       "Dee Patel (care coordinator, R1A);Sam Okoro (advocate)"),
    _c("person_involved", "review end end-proposal", "review end end-proposal", "Y if the "
       "person took part (R3 and D1 require it)", "Y"),
    _c("carer_involved", "review end end-proposal", "", "Y or N if the person has a carer or "
       "advocate; blank if not", "Y"),
    _c("outcome", "review", "", "what the review decided", "plan continues"),
    _c("needs_still_arise", "review", "review", "Y if the person's needs still arise from the "
       "mental disorder", "Y"),
    _c("la", "or-decision", "or-decision", "the council of ordinary residence (GSS code)",
       "E06000019"),
    _c("decided_by", "or-decision end-proposal end-response",
       "or-decision end-proposal end-response", "who decided (for an end: who proposed or "
       "answered for the council)", "OR panel, A. Khan"),
    _c("decided_on", "or-decision end-proposal end-response end-withdrawal reinstatement",
       "or-decision end-proposal end-response end-withdrawal reinstatement", "date of the "
       "decision (the proposal, the answer, the withdrawal, or the day aftercare is needed "
       "again)", "2024-04-02"),
    _c("evidence", "or-decision", "", "the evidence the decision rests on",
       "tenancy agreement 2019-2024"),
    _c("dispute_id", "dispute", "dispute", "the council system's dispute id", "OR-17"),
    _c("dispute_status", "dispute", "dispute", "open, referred or resolved", "open"),
    _c("parties", "dispute", "dispute", "the councils in dispute (GSS codes, `;`-separated)",
       "E06000019;E06000030"),
    _c("interim_lead", "dispute", "", "the council arranging aftercare meanwhile (default: "
       "where the person lives, L5)", ""),
    _c("opened_on", "dispute", "dispute", "date the dispute was opened", "2024-06-01"),
    _c("status_on", "dispute", "", "date it was referred or resolved (required then)", ""),
    _c("resolved_la", "dispute", "", "the council of ordinary residence the resolution names "
       "(required when resolved)", ""),
    _c("panel_outcome", "panel", "panel", "approved, approved-with-changes, deferred or "
       "declined", "approved"),
    _c("panel_on", "panel", "panel", "date of the panel's decision", "2024-05-20"),
    _c("panel_members", "panel", "panel", "organisations that decided (GSS or ODS codes, "
       "`;`-separated)", "E06000019;QGH"),
    _c("address_from", "address", "address", "date the person began to live there (L7)",
       "2024-05-10"),
    _c("postcode", "address", "", "the address's postcode (or give address_la)", "SN1 1AA"),
    _c("address_la", "address", "", "the council area of the address (GSS code)", ""),
    _c("accommodation", "address", "address", "ordinary, specified (care home, supported "
       "living, shared lives: Care Act s39), s117 (accommodation provided as s117 aftercare) "
       "or nhs (L7)", "specified"),
    _c("placed_by", "address", "", "the council that arranged the placement (GSS code)",
       "E06000019"),
    _c("decision_date", "end", "end", "date of the joint decision to end s117 (D1)",
       "2027-06-01"),
    _c("end_reasons", "end end-proposal", "end end-proposal", "s117-end-reason codes, "
       "`;`-separated (D3 refuses reasons that are not enough on their own)",
       "no-longer-needed"),
    _c("la_agreed_by", "end", "end", "who agreed for the council (D1)", "A. Khan, s117 lead"),
    _c("la_agreed_on", "end", "end", "when the council agreed", "2027-05-28"),
    _c("icb_agreed_by", "end", "end", "who agreed for the ICB (D1)", "B. Cole, QGH"),
    _c("icb_agreed_on", "end", "end", "when the ICB agreed", "2027-06-01"),
    _c("end_date", "end end-proposal", "", "the formal date s117 ends (D5; default the "
       "decision date, or for a proposal the day both agree)", ""),
    _c("moved_to_suitable_accommodation", "end end-proposal", "", "Y if the person moved "
       "from specialist to other suitable accommodation first (D4)", ""),
    _c("notice_date", "end end-response", "", "date of the joint notice in writing to the "
       "person (D8, once MHA 2025 s46(2) is switched on)", "2027-06-01"),
    _c("notice_given_by", "end end-response", "", "the bodies giving the notice: both, "
       "`;`-separated (D8)", "E06000019;QGH"),
    _c("notice_method", "end end-response", "", "how it was given: post, email, in-person "
       "or portal (D8)",
       "post"),
    _c("notice_document", "end end-response", "", "the notice: its title or URL in the "
       "council's document store (D8)", "https://docs.example.gov.uk/s117/notice-42.pdf"),
    _c("charge_id", "charge", "charge", "the council system's id of the charge (O4); a later "
       "row with the same id records the refund", "CH-7"),
    _c("charged_from", "charge", "charge", "first day charged for s117 services", "2024-01-01"),
    _c("charged_to", "charge", "", "last day charged (blank: still charged)", "2024-12-31"),
    _c("amount", "charge", "charge", "the amount charged, in pounds", "5200.00"),
    _c("charged_by", "charge", "", "who charged (GSS or ODS code)", "E06000019"),
    _c("refunded_amount", "charge", "", "the refund, with any interest, in pounds", ""),
    _c("refunded_on", "charge", "", "date the refund was paid", ""),
    _c("proposal_id", "end-proposal end-response end-withdrawal",
       "end-proposal end-response end-withdrawal", "the proposal to end aftercare: the "
       "council system's id for its own proposal (the only kind it withdraws), or the id "
       "the register gave the ICB's proposal (shown on the person page)", "END-4"),
    _c("agreed", "end-response", "end-response", "Y if the council agrees to the ICB's "
       "proposal (the joint decision, D1), N if it declines (give the reason in note)", "Y"),
    _c("note", "dispute panel end charge end-proposal end-response end-withdrawal "
       "reinstatement", "", "free text (an end-response row that declines: the reason, "
       "required; an end-withdrawal or a reinstatement: why)", ""),
)
HEADER = tuple(c.name for c in COLUMNS)
_BY_NAME = {c.name: c for c in COLUMNS}

END_REASONS = frozenset(r.value for r in EndReason)
YES, NO = {"Y", "y", "yes", "Yes", "YES"}, {"N", "n", "no", "No", "NO"}
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_CODE = re.compile(r"^[A-Z0-9]{3,9}$")


def _flag(**more: Any) -> fields.Boolean:
    return fields.Boolean(truthy=YES, falsy=NO, allow_none=True, **more)


def _one_of(values: list[str]) -> validate.OneOf:
    return validate.OneOf(values, error="must be one of: {choices}")


class CouncilRow(Schema):
    """One row; blanks are absent. `post_load` splits the `;`-separated columns."""

    record = fields.String(required=True, validate=_one_of(list(RECORDS)))
    nhs_number = fields.String(required=True)
    plan_id = fields.String(validate=validate.Length(1, 100))
    plan_status = fields.String(validate=_one_of([s.value for s in PlanStatus]))
    agreed_on = fields.Date()
    plan_ends_on = fields.Date()
    care_coordinator = fields.String()
    coordinator_org = fields.String(validate=validate.Regexp(_CODE, error="is not an ODS or "
                                                                           "GSS code"))
    needs = fields.String()
    line_id = fields.String(validate=validate.Regexp(_ID, error="is 1-64 letters, digits, "
                                                                "'-' or '.'"))
    service_type = fields.String(validate=_one_of([s.value for s in ServiceType]))
    provider = fields.String()
    description = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    weekly_cost = fields.Decimal(validate=validate.Range(min=0))
    funding_basis = fields.String(validate=_one_of([b.value for b in FundingBasis]))
    funders = fields.String()
    meets_disorder_need = _flag()
    health_care = _flag()
    line_needs = fields.String()
    requested_on = fields.Date()
    review_on = fields.Date()
    attendees = fields.String()
    person_involved = _flag()
    carer_involved = _flag()
    outcome = fields.String()
    needs_still_arise = _flag()
    la = fields.String()
    decided_by = fields.String()
    decided_on = fields.Date()
    evidence = fields.String()
    dispute_id = fields.String(validate=validate.Regexp(_ID, error="is 1-64 letters, digits, "
                                                                   "'-' or '.'"))
    dispute_status = fields.String(validate=_one_of(["open", "referred", "resolved"]))
    parties = fields.String()
    interim_lead = fields.String()
    opened_on = fields.Date()
    status_on = fields.Date()
    resolved_la = fields.String()
    panel_outcome = fields.String(validate=_one_of([o.value for o in PanelOutcome]))
    panel_on = fields.Date()
    panel_members = fields.String()
    address_from = fields.Date()
    postcode = fields.String(validate=validate.Length(2, 10))
    address_la = fields.String()
    accommodation = fields.String(validate=_one_of([a.value for a in AccommodationType]))
    placed_by = fields.String()
    decision_date = fields.Date()
    end_reasons = fields.String()
    la_agreed_by = fields.String()
    la_agreed_on = fields.Date()
    icb_agreed_by = fields.String()
    icb_agreed_on = fields.Date()
    end_date = fields.Date()
    moved_to_suitable_accommodation = _flag()
    notice_date = fields.Date()
    notice_given_by = fields.String()
    notice_method = fields.String(validate=_one_of([m.value for m in NoticeMethod]))
    notice_document = fields.String()
    charge_id = fields.String(validate=validate.Regexp(_ID, error="is 1-64 letters, digits, "
                                                                  "'-' or '.'"))
    charged_from = fields.Date()
    charged_to = fields.Date()
    amount = fields.Decimal(validate=validate.Range(min=0, min_inclusive=False))
    charged_by = fields.String()
    refunded_amount = fields.Decimal(validate=validate.Range(min=0))
    refunded_on = fields.Date()
    proposal_id = fields.String(validate=validate.Regexp(_ID, error="is 1-64 letters, "
                                                                    "digits, '-' or '.'"))
    agreed = _flag()
    note = fields.String()

    @pre_load
    def _blanks(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v.strip() for k, v in data.items() if v is not None and v.strip()}

    @validates_schema
    def _applies(self, data: dict[str, Any], **_: Any) -> None:
        record = data.get("record")
        if record is None:
            return
        errors: dict[str, list[str]] = {}
        for name, value in data.items():
            column = _BY_NAME[name]
            if value is not None and record not in column.records:
                errors[name] = [f"does not apply to a {record} row (leave it blank)"]
        for column in COLUMNS:
            if record in column.required and data.get(column.name) is None:
                errors[column.name] = [f"is required for a {record} row"]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _lists(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        for name in ("parties", "panel_members", "line_needs", "attendees", "end_reasons",
                     "notice_given_by"):
            if name in data:
                data[name] = [p.strip() for p in data[name].split(";") if p.strip()]
        if "needs" in data:
            data["needs"] = _needs(data["needs"], errors)
        for name in ("line_needs",):
            unknown = [n for n in data.get(name, []) if n not in NEED_CATEGORIES]
            if unknown:
                errors[name] = [f"unknown need {', '.join(unknown)}"]
        if "funders" in data:
            data["funders"] = _funders(data["funders"], errors)
        unknown = [r for r in data.get("end_reasons", []) if r not in END_REASONS]
        if unknown:
            errors["end_reasons"] = [f"unknown end reason {', '.join(unknown)}"]
        for name in ("la", "interim_lead", "resolved_la", "parties", "panel_members",
                     "address_la", "placed_by", "notice_given_by", "charged_by"):
            values = data.get(name)
            for value in values if isinstance(values, list) else [values] if values else []:
                if not _CODE.match(value):
                    errors.setdefault(name, []).append(f"{value!r} is not a GSS or ODS code")
        if errors:
            raise ValidationError(errors)
        return data


def _needs(text: str, errors: dict[str, list[str]]) -> list[tuple[str, bool]]:
    out = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        code, _, arises = part.partition(":")
        if code not in NEED_CATEGORIES or arises not in YES | NO:
            errors.setdefault("needs", []).append(
                f"{part!r}: write need-code:Y or need-code:N with a Code of Practice 34.19 "
                "need code")
            continue
        out.append((code, arises in YES))
    return out


def _funders(text: str, errors: dict[str, list[str]]) -> list[tuple[str, str]]:
    out = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        code, equals, percent = part.partition("=")
        if not equals or not code or not re.fullmatch(r"\d+(\.\d+)?", percent.strip()):
            errors.setdefault("funders", []).append(f"{part!r}: write CODE=PERCENT")
            continue
        out.append((code.strip(), percent.strip()))
    return out
