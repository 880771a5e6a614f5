"""Round trips for the casework mappings (CarePlan both ways; Task and Flag out), with
hypothesis drawing the domain side: a plan a council writes back is the plan it read, and the
JSON the server sends is exactly what the fhir.resources model would serialise and is valid
for its profile."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_profiles.validate import validate
from mappings import attendees
from mappings.fhir import care_plan, flag, task
from register import casework
from register.model import (
    HOUSING_BENEFIT,
    NEED_CATEGORIES,
    PERSON,
    AftercarePlan,
    AssessedNeed,
    Attendee,
    CareCoordinator,
    FundingBasis,
    FundingShare,
    PlanStatus,
    Review,
    ServiceLine,
    ServiceType,
)
from register.ports import StoredPlan
from register.rules.entitlements import derive
from register.rules.ports import LocalityPolicy
from tests.builders import line, person, plan, refdata, stay

DAYS = st.dates(min_value=date(2015, 1, 1), max_value=date(2026, 11, 1))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=30).map(str.strip).filter(bool)
FUNDERS = st.sampled_from(["E06000019", "QGH", "18C", "E06000030", PERSON, HOUSING_BENEFIT])
NEEDS = st.sampled_from(sorted(NEED_CATEGORIES))
MONEY = st.decimals(min_value=0, max_value=5000, places=2)


@st.composite
def shares(draw: st.DrawFn) -> list[FundingShare]:
    funders = draw(st.lists(FUNDERS, min_size=1, max_size=3, unique=True))
    cuts = sorted(draw(st.lists(st.integers(1, 99), min_size=len(funders) - 1,
                                max_size=len(funders) - 1, unique=True)))
    bounds = [0, *cuts, 100]
    return [FundingShare(f, Decimal(bounds[i + 1] - bounds[i]))
            for i, f in enumerate(funders)]


@st.composite
def lines(draw: st.DrawFn, line_id: str) -> ServiceLine:
    start = draw(st.none() | DAYS)
    return ServiceLine(
        line_id, draw(st.sampled_from(list(ServiceType))),
        draw(st.sampled_from(list(FundingBasis))), draw(shares()),
        weekly_cost=draw(st.none() | MONEY), provider=draw(st.just("") | TEXT),
        description=draw(st.just("") | TEXT), starts_on=start,
        ends_on=start + timedelta(days=draw(st.integers(0, 400))) if start and draw(
            st.booleans()) else None,
        meets_disorder_need=draw(st.booleans()), health_care=draw(st.none() | st.booleans()),
        needs=draw(st.lists(NEEDS, max_size=3, unique=True)),
        requested_on=draw(st.none() | DAYS))


@st.composite
def plans(draw: st.DrawFn) -> StoredPlan:
    count = draw(st.integers(1, 3))
    agreed = draw(st.none() | DAYS)
    aftercare = AftercarePlan(
        id=str(draw(st.uuids())), entitlement_id=str(draw(st.uuids())),
        status=draw(st.sampled_from(list(PlanStatus))),
        lines=[draw(lines(str(i + 1))) for i in range(count)],
        needs=[AssessedNeed(n, draw(st.booleans()), draw(st.just("") | TEXT))
               for n in draw(st.lists(NEEDS, max_size=3, unique=True))],
        care_coordinator=draw(st.none() | st.builds(
            CareCoordinator, TEXT, st.none() | st.sampled_from(["R1A", "E06000019"]))),
        agreed_on=agreed, ends_on=agreed + timedelta(days=30) if agreed and draw(
            st.booleans()) else None,
        recorded_on=draw(st.none() | DAYS),
        author=draw(st.none() | st.sampled_from(["E06000019", "QGH"])),
        external_id=draw(st.none() | st.just("CP-1")))
    if aftercare.external_id:
        aftercare.external_system = "E06000019"
    state = casework.plan_state(aftercare, person(), LocalityPolicy())
    return StoredPlan(state, draw(st.integers(1, 10**6)), draw(st.integers(1, 50)),
                      datetime(2026, 11, 1, 12, 0))


def name_of(code: str) -> str | None:
    return {"E06000019": "Herefordshire", "QGH": "NHS Herefordshire and Worcestershire "
            "ICB"}.get(code)


@settings(max_examples=120, deadline=None)
@given(plans())
def test_a_plan_survives_being_published_and_sent_back(stored: StoredPlan):
    served = care_plan.to_json(stored, name_of)
    assert served == care_plan.to_fhir(stored, name_of).model_dump(mode="json",
                                                                  exclude_none=True)
    assert [i for i in validate(served) if i.severity == "error"] == []
    back = care_plan.from_json(served)
    mine = stored.state.plan
    assert back.person_id == stored.person_id and back.entitlement_id == mine.entitlement_id
    assert (back.status, back.agreed_on, back.ends_on, back.author) == (
        mine.status, mine.agreed_on, mine.ends_on, mine.author)
    assert list(back.lines) == mine.lines and list(back.needs) == mine.needs
    assert back.care_coordinator == mine.care_coordinator
    assert (back.external_id, back.external_system) == (mine.external_id,
                                                         mine.external_system)


def test_a_new_line_without_an_id_gets_the_next_free_number():
    stored = StoredPlan(casework.plan_state(plan("e", line("1"), line("3")), person(),
                                            LocalityPolicy()), 7, 1, datetime(2026, 1, 1))
    served = care_plan.to_json(stored, name_of)
    served["activity"].append({**served["activity"][0]})
    del served["activity"][2]["id"]
    back = care_plan.from_json(served, stored.state.plan)
    assert [ln.id for ln in back.lines] == ["1", "3", "2"]


def test_every_task_and_flag_the_register_derives_is_valid_for_its_profile():
    facts = person(stay("A", "2023-01-10", ("03", "2023-01-10"), discharged="2023-03-01"))
    [ent] = derive(facts, refdata(), LocalityPolicy())
    facts.plans.append(plan(ent.id, line("L1", "residential-care", cost="1300",
                                         funders="E06000019=50;QGH=50"), coordinator=None,
                            agreed="2023-03-01"))
    facts.reviews.append(Review(ent.id, date(2023, 5, 1), "fine", attendees=[
        Attendee("Dee Patel", "care coordinator", "R1A")], carer_involved=False))
    [ent] = derive(facts, refdata(), LocalityPolicy())
    work = casework.derive(facts, [ent], LocalityPolicy())
    today = date(2026, 11, 22)
    assert {t.kind for t in work.tasks} >= {casework.TaskKind.REVIEW, casework.TaskKind.PANEL}
    for item in work.tasks:
        served = task.to_json(12, datetime(2026, 11, 1), item, name_of, today)
        assert served == task.to_fhir(12, datetime(2026, 11, 1), item, name_of,
                                      today).model_dump(mode="json", exclude_none=True)
        assert [i for i in validate(served) if i.severity == "error"] == [], served
    for alert in work.alerts:
        served = flag.to_json(12, datetime(2026, 11, 1), alert, name_of, today)
        assert served == flag.to_fhir(12, datetime(2026, 11, 1), alert, name_of,
                                      today).model_dump(mode="json", exclude_none=True)
        assert [i for i in validate(served) if i.severity == "error"] == [], served


@given(st.builds(Attendee, TEXT.filter(lambda t: "(" not in t and ")" not in t),
                 st.just("") | st.sampled_from(["care coordinator", "advocate", "GP"]),
                 st.none() | st.sampled_from(["R1A", "E06000019", "QGH"])))
def test_an_attendee_reads_back_as_it_was_written(attendee: Attendee):
    assert attendees.read(attendees.written(attendee)) == attendee
