"""The monitoring reports (issue 8) on a register filled through its own commands: each
figure is worked out by hand from the histories below, as of TODAY (2026-11-22).

- A, Herefordshire: s3, home 1 Feb 2026; first review 10 Mar (due 15 Mar: in time).
- B, Herefordshire: s3, home 1 Apr; first review 1 Jun (due 13 May: late).
- C, Herefordshire, placed in Swindon on discharge 10 Jun; no review (due 22 Jul: overdue
  123 days); a plan with a £400/week line split 50:50 with QGH.
- D, Swindon: s3, home 10 Feb; review 20 Mar (due 24 Mar: in time); at its review of 1 Sep
  (early, so in no month counted here) aftercare ended.
- E, Herefordshire: s2 only, never entitled."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from adapter import config
from adapter.bootstrap import Register
from adapter.reports import render, report
from register import commands as c
from register.access import EVERYONE, OrgType, Viewer
from register.model import Address, EndReason, PlanStatus
from register.nhs_number import synthetic
from register.refdata.sql import SqlRefData
from register.reports.periods import window
from register.service import RegisterService
from register.store import database
from register.store.views import RegisterViews
from tests.builders import HEREFORDSHIRE, SWINDON, at, line
from tests.conftest import TODAY

A, B, C, D, E = (synthetic(n) for n in range(500, 505))
HEREFORD = Viewer(HEREFORDSHIRE, OrgType.LA)
SWINDON_LA = Viewer(SWINDON, OrgType.LA)


def detained(nhs: str, ref: str, admitted: str, discharged: str, *, section: str = "03",
             postcode: str = "HR1 1AA", gp: str = "Z10001",
             destination: str | None = None) -> list[c.Command]:
    return [c.Admit(command_id=f"{ref}-a", nhs_number=nhs, occurred_at=at(admitted),
                    trust_ods="RLQ", stay_ref=ref, admitted_at=at(admitted),
                    legal_status=section, legal_status_start=at(admitted),
                    residence_before=Address(postcode=postcode), gp_practice=gp),
            c.Discharge(command_id=f"{ref}-d", nhs_number=nhs, occurred_at=at(discharged),
                        trust_ods="RLQ", stay_ref=ref, discharged_at=at(discharged),
                        destination=Address(postcode=destination) if destination else None)]


def reviewed(nhs: str, on: str, *, still_needed: bool = True) -> c.RecordReview:
    return c.RecordReview(command_id=f"{nhs}-review-{on}", nhs_number=nhs,
                          entitlement_id=None, on=date.fromisoformat(on),
                          needs_arise_from_disorder=still_needed)


@pytest.fixture
def register(engine: Engine, service: RegisterService) -> Register:
    history = [
        *detained(A, "A1", "2026-01-05", "2026-02-01"), reviewed(A, "2026-03-10"),
        *detained(B, "B1", "2026-03-01", "2026-04-01"), reviewed(B, "2026-06-01"),
        *detained(C, "C1", "2025-10-01", "2026-06-10", destination="SN1 1AA"),
        c.RecordCarePlan(command_id="C-plan", nhs_number=C, plan_id="C-plan",
                         entitlement_id=None, status=PlanStatus.ACTIVE,
                         agreed_on=date(2026, 6, 10),
                         lines=(line(funders=f"{HEREFORDSHIRE}=50;QGH=50", cost="400"),)),
        *detained(D, "D1", "2026-01-10", "2026-02-10", postcode="SN1 1AA", gp="Z20001"),
        reviewed(D, "2026-03-20"), reviewed(D, "2026-09-01", still_needed=False),
        *detained(E, "E1", "2026-05-01", "2026-05-20", section="02"),
    ]
    for command in history:
        service.handle(command)
    sessions = database.session_factory(engine)
    views = RegisterViews(sessions)
    [ended] = views.entitlements_of(views.person_ids_by_nhs_number((D,))[0])
    service.handle(c.EndEntitlement(
        command_id="D-end", nhs_number=D, entitlement_id=ended.entitlement.id,
        decision_date=date(2026, 9, 1), la_agreed=True, icb_agreed=True, person_involved=True,
        reasons=(EndReason.NO_LONGER_NEEDED,), la_agreed_by="Swindon s117 lead",
        la_agreed_on=date(2026, 9, 1), icb_agreed_by="BSW ICB", icb_agreed_on=date(2026, 9, 1)))
    return Register(config.from_env({}), engine, sessions, SqlRefData(sessions), service)


def rows(register: Register, name: str, viewer: Viewer = EVERYONE, **more: str
         ) -> dict[str, tuple]:
    built = report(register, name, viewer, TODAY, **more)
    return {str(r[0]): r[1:] for r in built.rows}


def test_review_compliance_by_month_counts_in_time_late_and_overdue(register: Register):
    found = rows(register, "review-compliance")
    assert list(found) == window(TODAY, "month")
    # (due, in time, late, not held, first due, first in time, % in time)
    assert found["2026-03"] == (2, 2, 0, 0, 2, 2, 100)
    assert found["2026-05"] == (1, 0, 1, 0, 1, 0, 0)
    assert found["2026-07"] == (1, 0, 0, 1, 1, 0, 0)
    assert found["2026-10"] == (0, 0, 0, 0, 0, 0, "-")


def test_review_compliance_by_quarter(register: Register):
    found = rows(register, "review-compliance", period="quarter")
    assert list(found) == ["2026 Q1 (Jan-Mar)", "2026 Q2 (Apr-Jun)", "2026 Q3 (Jul-Sep)",
                           "2026 Q4 (Oct-Dec)"]
    assert found["2026 Q1 (Jan-Mar)"][:4] == (2, 2, 0, 0)
    assert found["2026 Q2 (Apr-Jun)"][:4] == (1, 0, 1, 0)
    assert found["2026 Q3 (Jul-Sep)"][:4] == (1, 0, 0, 1)


def test_overdue_reviews_by_how_long(register: Register):
    assert rows(register, "overdue-reviews") == {
        "<1 month": (0,), "1-3 months": (0,), "3-6 months": (1,), "6-12 months": (0,),
        "over 12 months": (0,)}


def test_new_entitlements_and_discharges_from_s117_by_month(register: Register):
    found = rows(register, "entitlement-flows")
    assert found["2026-02"] == (2, 0)  # A and D
    assert found["2026-04"] == (1, 0)  # B
    assert found["2026-06"] == (1, 0)  # C
    assert found["2026-09"] == (0, 1)  # D's aftercare ended
    assert found["2026-05"] == (0, 0), "a section 2 detention is not an entitlement"


def test_entitled_people_by_responsible_council_and_icb(register: Register):
    found = rows(register, "entitled-by-body")
    assert found["council: Herefordshire (E06000019)"] == (3, 0, 0)
    assert not [k for k in found if "Swindon" in k], "D's aftercare has ended"
    [icb] = [v for k, v in found.items() if k.startswith("ICB:") and "(QGH)" in k]
    assert icb == (3, 0, 0)


def test_out_of_area_placements_between_areas(register: Register):
    assert rows(register, "out-of-area") == {
        "Herefordshire (E06000019) to Swindon (E06000030)":
            ("Herefordshire (E06000019)", "Swindon (E06000030)", 1)}


def test_spend_by_funder_and_funding_basis(register: Register):
    built = report(register, "spend", EVERYONE, TODAY)
    assert built.columns == ("funder", "s117", "total per week")
    found = {r[0]: r[1:] for r in built.rows}
    assert found["Herefordshire (E06000019)"] == (200.0, 200.0)
    [nhs] = [v for k, v in found.items() if "(QGH)" in k]
    assert nhs == (200.0, 200.0)
    assert sum(Decimal(str(r[-1])) for r in built.rows) == Decimal(400)


def test_a_council_counts_only_the_people_it_sees(register: Register):
    """Swindon sees D (its own) and C (placed in its area), as the FHIR API would."""
    found = rows(register, "review-compliance", SWINDON_LA)
    assert found["2026-03"][:4] == (1, 1, 0, 0)  # D only: A is Herefordshire's
    assert found["2026-05"][:1] == (0,)
    assert found["2026-07"][:4] == (1, 0, 0, 1)  # C lives in Swindon
    assert rows(register, "entitlement-flows", SWINDON_LA)["2026-02"] == (1, 0)
    assert rows(register, "spend", HEREFORD) == rows(register, "spend")


def test_charts_have_a_title_axis_labels_and_a_text_alternative(register: Register):
    built = report(register, "review-compliance", EVERYONE, TODAY)
    drawn = render.svg(built)
    assert drawn.startswith("<?xml") and 'role="img"' in drawn
    assert f"<title>{built.title}: the figures are in the table on the page</title>" in drawn
    for text in ("Review compliance by month", "Month the review fell due", "Reviews",
                 "held in time", "not held (overdue)"):
        assert text in drawn, text
    assert render.png(built).startswith(b"\x89PNG")
    lines = render.csv_text(built).splitlines()
    assert lines[0] == ",".join(built.columns)
    assert "2026-03,2,2,0,0,2,2,100" in lines


def test_an_unknown_report_is_refused_before_anything_is_read(register: Register):
    with pytest.raises(KeyError):
        report(register, "nothing", EVERYONE, TODAY)
