"""Round trips domain -> FHIR (through JSON) -> domain for every resource mapping (issue 3,
Build 2), with hypothesis drawing the domain side: what the register knows survives being
published, so a client that reads and writes back loses nothing. Each also proves that the JSON
the server sends (`to_json`, without the models) is exactly what the model would serialise."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.patient import Patient
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mappings.fhir import detention, entitlement, patient
from mappings.fhir.common import LONDON
from register import legal_status
from register.model import (
    Address,
    AddressPeriod,
    Dispute,
    DisputeStatus,
    Entitlement,
    EntitlementStatus,
    GpRegistration,
    LegalStatusPeriod,
    NamePeriod,
    PersonFacts,
    PersonName,
    Responsibility,
    RuleApplied,
    StatusChange,
    Stay,
)
from register.nhs_number import synthetic
from register.ports import StoredEntitlement, StoredPerson

LAS = st.sampled_from(["E06000019", "E06000030", "E10000034", "E08000018"])
ICBS = st.sampled_from(["QGH", "QOX", "QR1", "QF7"])
CCGS = st.sampled_from(["18C", "92G", "11M", "03L"])
DAYS = st.dates(min_value=date(2005, 1, 1), max_value=date(2030, 12, 31))
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1,
               max_size=40).map(str.strip).filter(bool)
UPDATED = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1))


def name_of(code: str) -> str | None:
    return {"E06000019": "Herefordshire, County of", "QGH": "NHS Herefordshire and "
            "Worcestershire ICB"}.get(code)


def real_uk_time(moment: datetime) -> bool:
    """A wall-clock time that exists in London (not inside the spring-forward gap)."""
    there = moment.replace(tzinfo=LONDON)
    return there.astimezone(UTC).astimezone(LONDON).replace(tzinfo=None) == moment


UK_TIMES = st.datetimes(min_value=datetime(2005, 1, 1), max_value=datetime(2030, 1, 1)).map(
    lambda m: m.replace(microsecond=0)).filter(real_uk_time)

addresses = st.builds(Address, postcode=st.none() | st.sampled_from(["HR1 1AA", "SN1 1AA"]),
                      lines=st.lists(TEXT, max_size=2), la_gss=st.none() | LAS,
                      no_fixed_abode=st.booleans())


@st.composite
def people(draw: st.DrawFn) -> StoredPerson:
    facts = PersonFacts(nhs_number=synthetic(draw(st.integers(0, 5000))),
                        date_of_birth=draw(st.none() | DAYS))
    facts.addresses = [AddressPeriod(a, d) for a, d in sorted(
        draw(st.lists(st.tuples(addresses, DAYS), max_size=3)), key=lambda p: p[1])]
    facts.gp_registrations = [GpRegistration(code, d) for code, d in sorted(
        draw(st.lists(st.tuples(st.sampled_from(["M81001", "Z10001"]), DAYS), max_size=2)),
        key=lambda p: p[1])]
    facts.names = [NamePeriod(PersonName(family, given), d) for family, given, d in sorted(
        draw(st.lists(st.tuples(st.sampled_from(["Okafor", "O'Brien"]),
                                st.lists(st.sampled_from(["Mary", "Jo"]), max_size=2), DAYS),
                      max_size=2, unique_by=lambda n: n[2])), key=lambda n: n[2])]
    facts.died_on = draw(st.none() | DAYS)
    return StoredPerson(draw(st.integers(1, 10**6)), draw(st.integers(1, 50)),
                        draw(UPDATED), facts)


@given(people())
def test_patient_round_trip(person: StoredPerson):
    served = patient.to_json(person, name_of)
    assert served == patient.to_fhir(person, name_of).model_dump(mode="json", exclude_none=True)
    published = Patient.model_validate_json(patient.to_fhir(person, name_of).model_dump_json())
    back = patient.from_fhir(published)
    expected = patient.view_of(person)
    if expected.address and expected.address.no_fixed_abode:
        # "No fixed abode" is carried as the address text; lines and postcode stay as given.
        assert back.address and back.address.no_fixed_abode
    assert back == expected


codes = st.sampled_from([s.code for s in legal_status.all_codes()])


@st.composite
def stays(draw: st.DrawFn) -> tuple[StoredPerson, Stay]:
    admitted = draw(UK_TIMES)
    starts = sorted(draw(st.lists(st.integers(0, 400), min_size=1, max_size=4, unique=True)))
    periods = []
    for i, offset in enumerate(starts):
        start = admitted + timedelta(days=offset)
        end = admitted + timedelta(days=starts[i + 1]) if i + 1 < len(starts) else None
        assume(real_uk_time(start))
        periods.append(LegalStatusPeriod(draw(codes), start, end, draw(st.booleans())))
    discharged = draw(st.none() | st.just(admitted + timedelta(days=starts[-1] + 30)))
    assume(discharged is None or real_uk_time(discharged))
    stay = Stay(trust_ods=draw(st.sampled_from(["RLQ", "RTQ"])),
                stay_ref=draw(st.from_regex(r"[A-Z0-9]{4,10}", fullmatch=True)),
                admitted_at=admitted, discharged_at=discharged,
                cancelled=draw(st.booleans()), legal_status=periods)
    facts = PersonFacts(nhs_number=synthetic(1), stays=[stay])
    return StoredPerson(draw(st.integers(1, 10**6)), 1, draw(UPDATED), facts), stay


@given(stays())
def test_detention_round_trip(drawn: tuple[StoredPerson, Stay]):
    person, stay = drawn
    encounter = detention.to_fhir(person, stay, [], name_of)
    served = detention.to_json(person, stay, [], name_of)
    assert served == encounter.model_dump(mode="json", exclude_none=True)
    published = Encounter.model_validate_json(encounter.model_dump_json())
    assert detention.from_fhir(published) == detention.view_of(stay)
    assert detention.find_stay(person, published.id) is stay


rules = st.builds(RuleApplied, rule_id=st.sampled_from(["E1", "L1", "N4", "N5", "R1"]),
                  reason=TEXT, citation=TEXT)


@st.composite
def disputes(draw: st.DrawFn) -> Dispute:
    """An ordinary-residence dispute (L5), open, referred or resolved."""
    status = draw(st.sampled_from(list(DisputeStatus)))
    opened = draw(DAYS)
    return Dispute(str(draw(st.uuids())), draw(st.lists(LAS, min_size=2, max_size=3,
                                                         unique=True)),
                   draw(LAS), opened, status,
                   opened + timedelta(days=90) if status is DisputeStatus.RESOLVED else None)


@st.composite
def entitlements(draw: st.DrawFn) -> StoredEntitlement:
    planned = draw(DAYS)
    status = draw(st.sampled_from(list(EntitlementStatus)))
    history = [StatusChange(s, planned + timedelta(days=i * 30), "because")
               for i, s in enumerate(draw(st.lists(st.sampled_from(list(EntitlementStatus)),
                                                   min_size=1, max_size=4)))]
    responsibilities = []
    for i in range(draw(st.integers(0, 3))):
        n4 = draw(st.booleans())
        responsibilities.append(Responsibility(
            effective_from=planned + timedelta(days=i * 100),
            rule_set=draw(st.sampled_from(["who-pays-2020", "icb-2022"])),
            local_authority=draw(st.none() | LAS), icb=draw(st.none() | ICBS),
            commissioning_body=draw(CCGS) if n4 else None,
            paying_body=draw(CCGS) if n4 else None,
            paying_icb=draw(ICBS) if n4 else None,
            basis=tuple(draw(st.lists(rules, max_size=4)))))
    ent = Entitlement(id=str(draw(st.uuids())), status=status, planned_on=planned,
                      status_history=history, responsibilities=responsibilities,
                      ended_on=planned + timedelta(days=500)
                      if status is EntitlementStatus.ENDED else None,
                      needs_review=draw(st.lists(TEXT, max_size=2)),
                      disputes=draw(st.lists(disputes(), max_size=2)),
                      care_coordinator=draw(st.none() | TEXT))
    return StoredEntitlement(ent, draw(st.integers(1, 10**6)), draw(st.integers(1, 50)),
                             draw(UPDATED), draw(st.none() | LAS), draw(st.none() | DAYS))


@settings(max_examples=150)
@given(entitlements())
def test_entitlement_round_trip(stored: StoredEntitlement):
    served = entitlement.to_json(stored, name_of)
    assert served == entitlement.to_fhir(stored, name_of).model_dump(mode="json",
                                                                    exclude_none=True)
    published = EpisodeOfCare.model_validate_json(
        entitlement.to_fhir(stored, name_of).model_dump_json())
    assert entitlement.from_fhir(published) == entitlement.view_of(stored)


def test_local_ids_are_ascii_whole_numbers_that_fit_the_store():
    from mappings.fhir.common import local_id

    assert local_id("42") == 42
    for bad in ("¹", "٣", "-1", "1.0", "", "9" * 19, " 4"):
        assert local_id(bad) is None, bad


def test_patient_address_period_start_is_the_effective_date_of_an_address_change():
    """RULES.md N2/N5: a client's Address.period.start dates the change; the register
    serves the date it holds the address from."""
    sent = Patient.model_validate({
        "resourceType": "Patient",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}],
        "address": [{"postalCode": "SN1 1AA", "period": {"start": "2021-05-01"}}]})
    view = patient.from_fhir(sent)
    assert view.address_from == date(2021, 5, 1) and view.address.postcode == "SN1 1AA"
    without = patient.from_fhir(Patient.model_validate({
        "resourceType": "Patient", "address": [{"postalCode": "SN1 1AA"}],
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9990000018"}]}))
    assert without.address_from is None  # the command then dates it by the message time
