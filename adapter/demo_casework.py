"""The demo region's casework (issue 21): what councils and ICBs recorded for the generated
people, so the pages and reports show a believable region rather than one where nothing is
ever done. Most entitled people have a plan with a care coordinator and split funding, held
reviews (most in time, some late, a few missing), panel decisions (a few still waiting),
personal health budgets and direct payments with their request and decision dates; some
aftercare was ended jointly (proposed by one body and agreed by the other), one end is
waiting for the ICB, one was declined, two were reinstated, and one residence is disputed.

Every choice comes from the person's NHS number and the first day their aftercare began, and
every command id from the same, so running the demo again changes nothing. The named cases
are left as they are."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal

from adapter.bootstrap import Register
from register import commands as c
from register.errors import RegisterError
from register.model import (
    Attendee,
    CareCoordinator,
    EndReason,
    Entitlement,
    EntitlementStatus,
    FundingBasis,
    FundingShare,
    PanelOutcome,
    PlanStatus,
    ServiceLine,
    ServiceType,
)
from register.store.casework_views import CaseworkViews
from register.store.views import RegisterViews

# (service, weekly cost range, share paid by the council: the rest by the ICB)
SERVICES = (
    (ServiceType.SUPPORTED_ACCOMMODATION, (650, 1650), 60),
    (ServiceType.RESIDENTIAL_CARE, (900, 1900), 50),
    (ServiceType.DOMICILIARY, (120, 520), 100),
    (ServiceType.DAY_SERVICES, (60, 240), 100),
    (ServiceType.PSYCHOLOGICAL_THERAPY, (90, 260), 0),
    (ServiceType.EMPLOYMENT_SUPPORT, (40, 160), 100),
    (ServiceType.PERSONAL_HEALTH_BUDGET, (150, 600), 0),
    (ServiceType.DIRECT_PAYMENT, (100, 450), 100),
)
COORDINATORS = ("Dee Patel", "Sam Okoro", "Lena Fischer", "Rob Hart", "Mina Shah",
                "Tariq Aziz", "Claire Dunn")


def _rng(*parts: object) -> random.Random:
    seed = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(seed[:8], "big"))


def _first_start(ent: Entitlement) -> date | None:
    starts = [s.on for s in ent.status_history if s.status is EntitlementStatus.ACTIVE]
    return starts[0] if starts else None


def play(register: Register, numbers: Iterable[str], today: date,
         progress: Callable[[], None] = lambda: None) -> Counter[str]:
    """Record the casework of these people; outcomes counted as applied, duplicate, refused
    (`progress` is called once a person)."""
    people = RegisterViews(register.sessions)
    views = CaseworkViews(register.sessions, register.settings.policy)
    outcomes: Counter[str] = Counter()
    chosen = sorted(numbers)
    ending = {n for n in chosen if _rng(n, "end").random() < 0.12}
    for index, nhs in enumerate(chosen):
        progress()
        ids = people.person_ids_by_nhs_number((nhs,))
        work = views.person_casework(ids[0]) if ids else None
        if work is None or not work.entitlements:
            continue
        ent = work.entitlements[-1].entitlement
        start = _first_start(ent)
        cur = ent.current
        if start is None or cur is None or not cur.local_authority or not cur.icb \
                or ent.status is EntitlementStatus.CANCELLED:
            continue
        for cmd in _commands(nhs, ent, start, cur.local_authority, cur.icb, today,
                             end=nhs in ending, turn=index):
            try:
                outcomes[register.service.handle(cmd).status] += 1
            except RegisterError:
                outcomes["refused"] += 1
    return outcomes


def _commands(nhs: str, ent: Entitlement, start: date, la: str, icb: str, today: date, *,
              end: bool, turn: int) -> list[c.Command]:
    rng = _rng(nhs, start)
    cid = f"demo-cw-{nhs}-{start}"
    cmds: list[c.Command] = []
    if rng.random() < 0.85:
        cmds += _plan(rng, cid, nhs, ent.id, start, la, icb, today)
    reviews = _reviews(rng, cid, nhs, ent.id, start, la, today, last_says_no=end)
    cmds += reviews
    if end and reviews and ent.status is EntitlementStatus.ACTIVE:
        cmds += _end(rng, cid, nhs, ent.id, la, icb, reviews[-1].on, today, turn)
    if turn == 7 and ent.status is EntitlementStatus.ACTIVE:
        cmds.append(c.OpenDispute(
            command_id=f"{cid}-dispute", nhs_number=nhs, dispute_id=f"DEMO-{nhs[-4:]}",
            entitlement_id=ent.id, parties=(la, "E06000030" if la != "E06000030"
                                            else "E06000019"),
            opened_on=today - timedelta(days=23), interim_lead=la,
            note="Tenancy records disagree about where the person lived before detention"))
    return cmds


def _line(rng: random.Random, n: int, la: str, icb: str, start: date) -> ServiceLine:
    service, (low, high), council = SERVICES[rng.randrange(len(SERVICES))]
    cost = Decimal(rng.randrange(low, high, 5))
    if service is ServiceType.PSYCHOLOGICAL_THERAPY or service is \
            ServiceType.PERSONAL_HEALTH_BUDGET:
        funders = [FundingShare(icb, Decimal(100))]
    elif council == 100:
        funders = [FundingShare(la, Decimal(100))]
    else:
        funders = [FundingShare(la, Decimal(council)), FundingShare(icb, Decimal(100 - council))]
    return ServiceLine(f"L{n}", service, FundingBasis.S117, funders, weekly_cost=cost,
                       provider=rng.choice(("Riverside Support", "Oak House", "Wye Care",
                                            "Crossroads Community", "Mind local services")),
                       starts_on=start, requested_on=start - timedelta(days=rng.randint(3, 20)))


def _plan(rng: random.Random, cid: str, nhs: str, ent_id: str, start: date, la: str,
          icb: str, today: date) -> list[c.Command]:
    lines = tuple(_line(rng, n, la, icb, start) for n in range(1, rng.randint(1, 3) + 1))
    plan_id = f"demo-{nhs}-{start}"
    agreed = min(start + timedelta(days=rng.choice((0, 0, 3, 10, 40))), today)
    coordinator = CareCoordinator(rng.choice(COORDINATORS), la) if rng.random() < 0.93 \
        else None
    cmds: list[c.Command] = [c.RecordCarePlan(
        command_id=f"{cid}-plan", nhs_number=nhs, plan_id=plan_id, entitlement_id=ent_id,
        status=PlanStatus.ACTIVE, lines=lines, care_coordinator=coordinator, agreed_on=agreed,
        author=la)]
    for line in lines:
        if rng.random() < 0.1:
            continue  # still on the panel's agenda
        decided = min(line.requested_on + timedelta(days=rng.randint(7, 60)), today)  # type: ignore[operator]
        outcome = rng.choices(list(PanelOutcome), (80, 10, 4, 6))[0]
        cmds.append(c.RecordPanelDecision(
            command_id=f"{cid}-panel-{line.id}", nhs_number=nhs, plan_id=plan_id,
            line_id=line.id, outcome=outcome, decided_on=decided, members=(la, icb)))
    return cmds


def _reviews(rng: random.Random, cid: str, nhs: str, ent_id: str, start: date, la: str,
             today: date, *, last_says_no: bool) -> list[c.RecordReview]:
    """First at about six weeks (R1), then yearly (R2): most in time, some late, and for
    about one in eight the latest has not been held (overdue, R3)."""
    days, held = [], start + timedelta(days=rng.choice((28, 35, 40, 41, 50, 70)))
    while held <= today:
        days.append(held)
        held += timedelta(days=rng.choice((330, 350, 360, 364, 380, 420)))
    if days and rng.random() < 0.12 and not last_says_no:
        days.pop()
    return [c.RecordReview(
        command_id=f"{cid}-review-{day}", nhs_number=nhs, entitlement_id=ent_id, on=day,
        outcome="Needs met; the plan continues" if not (last_says_no and i == len(days) - 1)
        else "Well and settled; agreed aftercare is no longer needed",
        person_involved=True, carer_involved=rng.random() < 0.4,
        needs_arise_from_disorder=not (last_says_no and i == len(days) - 1),
        attendees=(Attendee(rng.choice(COORDINATORS), "care coordinator", la),),
        reviewed_by=la) for i, day in enumerate(days)]


def _end(rng: random.Random, cid: str, nhs: str, ent_id: str, la: str, icb: str,
         review_on: date, today: date, turn: int) -> list[c.Command]:
    """Proposed by the council at the latest review and, mostly, agreed by the ICB a week
    or three later; some left waiting, some declined, some reinstated."""
    proposal = f"P-DEMO-{nhs[-6:]}"
    cmds: list[c.Command] = [c.ProposeEnd(
        command_id=f"{cid}-propose", nhs_number=nhs, proposal_id=proposal,
        entitlement_id=ent_id, by_org=la, by_kind="la", by_name="s117 lead", on=review_on,
        review_on=review_on, reasons=(EndReason.NO_LONGER_NEEDED,), person_involved=True,
        carer_involved=rng.random() < 0.5, moved_to_suitable_accommodation=True)]
    answered = min(review_on + timedelta(days=rng.randint(5, 25)), today)
    kind = turn % 6
    if kind == 0 or answered == review_on == today:
        return cmds  # waiting for the ICB
    cmds.append(c.RespondToEndProposal(
        command_id=f"{cid}-answer", nhs_number=nhs, proposal_id=proposal, agree=kind != 1,
        by_org=icb, by_kind="icb", by_name="ICB commissioner", on=answered,
        reason="" if kind != 1 else "The ICB's view is that therapy is still needed"))
    back = answered + timedelta(days=rng.randint(20, 90))
    if kind == 2 and back <= today:
        cmds.append(c.ReinstateEntitlement(
            command_id=f"{cid}-reinstate", nhs_number=nhs, entitlement_id=ent_id, on=back,
            reason="Needs arising from the disorder returned soon after the end (D6)"))
    return cmds
