"""Who sees, writes and hears what (register.access, DESIGN.md "Security"), for each kind of
organisation; and the endpoint table of the HTTP policy: every route of the app is either
public by decision or needs something, and the public ones serve no register data."""

from __future__ import annotations

from datetime import date

import pytest

from adapter.http import policy
from register import access
from register.access import Bodies, OrgType, Viewer
from register.events import EntitlementEvent, EventType
from register.subscriptions import Criteria, Topic

HEREFORDSHIRE, SWINDON, GLOUCESTERSHIRE = "E06000019", "E06000030", "E10000013"
# Responsible: Herefordshire and QGH (paying QOX under N4); lives in Swindon; sent by RLQ.
PLACED = Bodies(HEREFORDSHIRE, "QGH", "QOX", SWINDON, frozenset({"RLQ"}))


def viewer(org: str, kind: str) -> Viewer:
    return Viewer(org, OrgType(kind))


@pytest.mark.parametrize(("org", "kind", "sees", "writes", "writes_or", "disputes"), [
    (HEREFORDSHIRE, "la", True, True, True, True),  # responsible council
    # where the person lives: reads, writes no casework, but is a party to a dispute (L5)
    (SWINDON, "la", True, False, False, True),
    (GLOUCESTERSHIRE, "la", False, False, False, False),
    ("QGH", "icb", True, True, False, False),  # responsible ICB: joint casework, no OR
    ("QOX", "icb", True, True, False, False),  # paying ICB under N4
    ("QR1", "icb", False, False, False, False),
    ("RLQ", "trust", True, False, False, False),  # sent the stay
    ("R1A", "trust", False, False, False, False),
    ("ops", "admin", True, True, True, True),
])
def test_each_kind_of_organisation(org, kind, sees, writes, writes_or, disputes):
    who = viewer(org, kind)
    assert access.sees(who, PLACED) is sees
    assert access.writes_casework(who, PLACED) is writes
    assert access.writes_casework(who, PLACED, council_only=True) is writes_or
    assert access.writes_dispute(who, PLACED) is disputes


def test_a_person_is_seen_through_any_entitlement_or_by_the_trust_that_sent_them():
    old = Bodies(GLOUCESTERSHIRE, "QR1", None, GLOUCESTERSHIRE)
    assert access.sees_person(viewer(GLOUCESTERSHIRE, "la"), [old, PLACED], ())
    assert access.sees_person(viewer(SWINDON, "la"), [old, PLACED], ())
    assert not access.sees_person(viewer("E08000018", "la"), [old, PLACED], ())
    assert access.sees_person(viewer("RLQ", "trust"), [], ["RLQ"])
    assert not access.sees_person(viewer("RLQ", "trust"), [PLACED], ["R1A"])
    assert not access.sees_person(viewer(HEREFORDSHIRE, "la"), [], ["RLQ"])  # no entitlement


def test_a_trust_sends_only_as_itself():
    assert access.sends_for(viewer("RLQ", "trust"), "RLQ")
    assert not access.sends_for(viewer("RLQ", "trust"), "R1A")
    assert not access.sends_for(viewer(HEREFORDSHIRE, "la"), HEREFORDSHIRE)
    assert access.sends_for(viewer("ops", "admin"), "R1A")


def event(**values: object) -> EntitlementEvent:
    base: dict[str, object] = dict(event=EventType.STARTED, entitlement_id="e1",
                                   status="active", local_authority=HEREFORDSHIRE, icb="QGH",
                                   residence_la=SWINDON, effective=date(2025, 1, 1),
                                   detail="", command_id="c1")
    return EntitlementEvent(**{**base, **values})  # type: ignore[arg-type]


def test_subscriptions_hear_what_their_owner_sees_and_the_move_away():
    assert access.hears(viewer("QGH", "icb"), event())
    assert not access.hears(viewer("QOX", "icb"), event())
    assert access.hears(viewer("QOX", "icb"), event(paying_icb="QOX"))
    assert access.hears(viewer(SWINDON, "la"), event())  # lives there
    assert not access.hears(viewer(GLOUCESTERSHIRE, "la"), event())
    moved = event(event=EventType.RESPONSIBILITY_CHANGED, local_authority=SWINDON,
                  icb="QOX", previous_local_authority=HEREFORDSHIRE, previous_icb="QGH")
    assert access.hears(viewer(HEREFORDSHIRE, "la"), moved)  # told it is no longer theirs
    assert access.hears(viewer("QGH", "icb"), moved)
    assert not access.hears(viewer("RLQ", "trust"), event())
    assert access.hears(viewer("ops", "admin"), event())


def criteria(*filters: tuple[str, set[str]]) -> Criteria:
    return Criteria(Topic.ENTITLEMENT_CHANGE, tuple((n, frozenset(v)) for n, v in filters))


def test_filters_that_could_never_match_for_their_owner_are_caught():
    icb = viewer("QGH", "icb")
    assert access.could_hear(icb, criteria())
    assert access.could_hear(icb, criteria(("responsible-icb", {"QGH", "QOX"})))
    assert not access.could_hear(icb, criteria(("responsible-icb", {"QOX"})))
    la = viewer(SWINDON, "la")
    # Herefordshire's people placed in Swindon: Swindon hears them by residence.
    assert access.could_hear(la, criteria(("responsible-la", {HEREFORDSHIRE})))
    assert not access.could_hear(la, criteria(("responsible-la", {HEREFORDSHIRE}),
                                              ("residence-la", {GLOUCESTERSHIRE})))
    assert not access.could_hear(viewer("RLQ", "trust"), criteria())


def test_every_route_is_public_by_decision_or_needs_a_token():
    from flask import Flask

    from adapter.http import fhir, hl7v2

    app = Flask("routes")
    app.register_blueprint(fhir.routes.blueprint)
    app.register_blueprint(hl7v2.blueprint)
    for rule in app.url_map.iter_rules():
        args = {a: "EpisodeOfCare" if a == "resource_type" else "x" for a in rule.arguments}
        need = policy.need_of(rule.endpoint, args)
        if rule.endpoint in policy.PUBLIC:
            assert need is None
        else:
            assert need is not None, rule.endpoint
            assert need != policy.unlisted(), f"{rule.endpoint} is not in the policy's table"
    # A route the policy does not list is for admins only.
    assert policy.need_of("fhir.something_new", {}).kinds == frozenset({OrgType.ADMIN})
    assert policy.need_of("fhir.read", {"resource_type": "StructureDefinition"}) is None
    assert policy.need_of("fhir.read", {"resource_type": "AuditEvent"}).kinds == \
        frozenset({OrgType.ADMIN})
