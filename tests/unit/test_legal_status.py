"""Legal status vocabulary (RULES.md table; E1, E7)."""

import pytest

from register import legal_status
from register.errors import InvalidData
from register.legal_status import Qualifies

QUALIFYING = {"03", "09", "10", "15", "16", "17", "18", "37", "38"}
REVIEW = {"31"}


@pytest.mark.parametrize("status", legal_status.all_codes(), ids=lambda s: s.code)
def test_every_code_has_the_qualification_of_the_rules_table(status):
    expected = (Qualifies.YES if status.code in QUALIFYING
                else Qualifies.REVIEW if status.code in REVIEW else Qualifies.NO)
    assert status.qualifies is expected


def test_table_holds_every_code_of_the_rules():
    codes = {s.code for s in legal_status.all_codes()}
    assert codes == {f"{n:02d}" for n in [*range(1, 11), *range(12, 21)]} | {
        "31", "32", "33", "35", "36", "37", "38", "98", "99"}


@pytest.mark.parametrize("raw,code", [("3", "03"), ("03", "03"), (" 9 ", "09"), ("34", "37"),
                                      ("33", "33"), ("37", "37")])
def test_normalise_pads_and_maps_legacy_codes(raw, code):
    assert legal_status.normalise(raw) == code


@pytest.mark.parametrize("raw", ["11", "21", "34A", "", "00", "100"])
def test_unknown_codes_are_refused_naming_the_field(raw):
    with pytest.raises(InvalidData) as err:
        legal_status.normalise(raw)
    assert err.value.field == "legal_status"


def test_guardianship_under_s37_is_not_a_hospital_order():
    assert legal_status.lookup("36").qualifies is Qualifies.NO
