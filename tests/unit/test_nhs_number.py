"""NHS number check digit (property tests)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from register.errors import InvalidData
from register.nhs_number import is_valid, normalise, require_valid, synthetic


def _check_digit(stem: str) -> int:
    total = sum(int(d) * (10 - i) for i, d in enumerate(stem))
    check = 11 - total % 11
    return 0 if check == 11 else check


# Stems from 4 upwards: below that lies the Scottish CHI range, where the first six digits
# must also be a date (checked by the library, not part of this property).
@given(st.text(alphabet="0123456789", min_size=8, max_size=8),
       st.sampled_from("456789"))
def test_a_number_is_valid_exactly_when_its_modulus_11_check_digit_matches(rest, first):
    stem = first + rest
    check = _check_digit(stem)
    for last in range(10):
        assert is_valid(stem + str(last)) == (check != 10 and last == check)


@given(st.integers(min_value=0, max_value=2000))
def test_synthetic_numbers_are_valid_and_in_the_test_range(n):
    number = synthetic(n)
    assert number.startswith("999") and is_valid(number)


def test_spaces_are_ignored_and_errors_name_the_field():
    assert normalise("999 000 0018") == "9990000018"
    assert require_valid("999 000 0018") == "9990000018"
    with pytest.raises(InvalidData) as err:
        require_valid("9990000019")
    assert err.value.field == "nhs_number" and "check digit" in err.value.message
    with pytest.raises(InvalidData):
        require_valid("12345")


@given(st.text(max_size=14))
def test_any_text_is_checked_without_crashing(text):
    """Unicode digits such as '¹' or '٣' pass str.isdigit but are not NHS number digits."""
    assert is_valid(text) in (True, False)
    if is_valid(text):
        assert set(normalise(text)) <= set("0123456789")
    assert not is_valid("999000001¹")


@given(st.sampled_from([" ", "-", "\u00a0", "\u2013"]))
def test_spaces_and_dashes_are_dropped_but_nothing_else_is(separator):
    """Issue 20 finding 8: `999 000 0018` and `999-000-0018` are 9990000018; a letter or
    other character between the digits makes the number invalid, never silently dropped."""
    assert require_valid(separator.join(["999", "000", "0018"])) == "9990000018"
    assert not is_valid("999x0000018") and not is_valid("999.000.0018")


@pytest.mark.parametrize("digit", "0123456789")
def test_a_number_of_one_repeated_digit_is_never_issued(digit):
    """Issue 20 finding 8: 0000000000 (and 1111111111 ...) pass the check digit or not, but
    none is ever issued: refused with the reason."""
    with pytest.raises(InvalidData) as err:
        require_valid(digit * 10)
    assert err.value.field == "nhs_number"
    assert "all one digit" in err.value.message or "check digit" in err.value.message
    assert not is_valid(digit * 10)
