"""NHS number checks (Modulus 11 check digit) via the maintained `nhs-number` package."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import nhs_number as _nhs

from register.errors import InvalidData

# What people type between the digits (999 000 0018, 999-000-0018): spaces of any kind and
# dashes. Anything else (a letter, a superscript digit) makes the number invalid rather than
# being dropped, so "999x0000018" is never read as 9990000018.
_SEPARATORS = frozenset(" \t\u00a0\u2009\u202f-\u2010\u2011\u2012\u2013\u2014")


def normalise(value: str) -> str:
    """The number without the spaces and dashes people type (the form the register keeps,
    compares and searches by)."""
    return "".join(ch for ch in str(value).strip() if ch not in _SEPARATORS)


def problem(value: str) -> str | None:
    """Why this is not an NHS number the register takes, or None if it is one."""
    digits = normalise(value)
    if not (digits.isascii() and digits.isdigit()):
        return "NHS number must be 10 digits (spaces and dashes between them are allowed)"
    if len(digits) != 10:
        return f"NHS number must have 10 digits, got {len(digits)}"
    if not passes_check_digit(digits):
        return "NHS number fails the Modulus 11 check digit"
    if len(set(digits)) == 1:
        # 0000000000 and 5555555555 pass the check digit but are never issued: they are
        # what a system sends for "unknown".
        return "NHS number is all one digit: such numbers are never issued"
    return None


def passes_check_digit(digits: str) -> bool:
    return bool(_nhs.is_valid(digits))


def is_valid(value: str) -> bool:
    return problem(value) is None


def canonical(value: str) -> str | None:
    """The normalised number if it is valid, else None."""
    return normalise(value) if is_valid(value) else None


def require_valid(value: str, field: str = "nhs_number") -> str:
    """Return the normalised NHS number or raise InvalidData naming the field and why."""
    reason = problem(value)
    if reason:
        raise InvalidData(reason, field=field)
    return normalise(value)


def synthetic_numbers() -> Iterator[str]:
    """Valid NHS numbers of the 999 test range, never issued to patients, in order
    (about 909,000 of them: stems whose check digit would be 10 are skipped)."""
    for stem in range(999_000_000, 1_000_000_000):
        check = _nhs.calculate_checksum(str(stem))
        if check != 10 and is_valid(f"{stem}{check}"):  # (never 9999999999)
            yield f"{stem}{check}"


_found: list[str] = []
_source = synthetic_numbers()
_finding = threading.Lock()


def synthetic(n: int) -> str:
    """The n-th synthetic NHS number (0-based). The numbers found so far are kept: counting
    from the start of the range for every call made a soak of 10,000 people quadratic."""
    with _finding:
        while len(_found) <= n:
            _found.append(next(_source))
        return _found[n]
