"""FHIR out for D8 and O1-O4: the end-decision Task carries the written notice, and every
Ombudsman Flag is valid for its profile with its rule in the text."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from fhir_profiles.validate import validate
from mappings.fhir import flag, task
from register import casework
from register.model import (
    Charge,
    EndDecision,
    EndReason,
    NoticeMethod,
    Review,
    WrittenNotice,
)
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import person, refdata, stay

TODAY = date(2026, 11, 22)
NOTICE = WrittenNotice(date(2026, 6, 1), ["E06000019", "QGH"], NoticeMethod.POST,
                       "Letter ending s117 aftercare",
                       "https://docs.example.gov.uk/s117/notice-42.pdf", "application/pdf")


def name_of(code: str) -> str | None:
    return None


def _work():
    facts = person(stay("A", "2025-01-10", ("03", "2025-01-10"), discharged="2025-03-01"))
    [ent] = derive(facts, refdata(), LocalityPolicy())
    facts.charges.append(Charge("CH-1", ent.id, date(2025, 4, 1), Decimal("900"),
                                charged_by="E06000019"))
    facts.reviews.append(Review(ent.id, date(2026, 6, 1), needs_arise_from_disorder=False))
    facts.end_decisions.append(EndDecision(
        ent.id, date(2026, 6, 1), True, True, True, [EndReason.NO_LONGER_NEEDED],
        la_agreed_by="A. Khan", la_agreed_on=date(2026, 6, 1), icb_agreed_by="B. Cole",
        icb_agreed_on=date(2026, 6, 1), notice=NOTICE))
    ents = derive(facts, refdata(), LocalityPolicy())
    return casework.derive(facts, ents, LocalityPolicy())


def test_d8_the_end_decision_task_carries_the_written_notice_and_is_valid():
    [end] = [t for t in _work().tasks if t.kind is casework.TaskKind.END]
    served = task.to_json(12, datetime(2026, 11, 1), end, name_of, TODAY)
    assert [i for i in validate(served) if i.severity == "error"] == [], served
    inputs = [(i["type"]["coding"][0]["code"], i) for i in served["input"]]
    given = {code: i for code, i in inputs}
    assert given["notice-date"]["valueDate"] == "2026-06-01"
    assert [i["valueString"] for c, i in inputs if c == "notice-given-by"] == ["E06000019", "QGH"]
    assert given["notice-method"]["valueCode"] == "post"
    assert given["notice-document"]["valueAttachment"]["url"].endswith("notice-42.pdf")


def test_o1_o4_flags_are_valid_and_name_their_rule():
    alerts = [a for a in _work().alerts if a.code in casework.OMBUDSMAN]
    assert {a.rule_id for a in alerts} == {"O1", "O2", "O3", "O4"}
    for alert in alerts:
        served = flag.to_json(12, datetime(2026, 11, 1), alert, name_of, TODAY)
        assert [i for i in validate(served) if i.severity == "error"] == [], served
        assert served["code"]["text"].endswith(f"(rule {alert.rule_id})")
