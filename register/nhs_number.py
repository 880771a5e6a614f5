"""NHS number checks (Modulus 11 check digit) via the maintained `nhs-number` package."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

import nhs_number as _nhs

from register.errors import InvalidData


def normalise(value: str) -> str:
    """Strip the spaces and dashes people type; keep only digits."""
    return "".join(ch for ch in str(value) if ch in "0123456789")


def is_valid(value: str) -> bool:
    digits = normalise(value)
    return len(digits) == 10 and bool(_nhs.is_valid(digits))


def require_valid(value: str, field: str = "nhs_number") -> str:
    """Return the normalised NHS number or raise InvalidData naming the field."""
    digits = normalise(value)
    if len(digits) != 10:
        raise InvalidData(f"NHS number must have 10 digits, got {len(digits)}", field=field)
    if not _nhs.is_valid(digits):
        raise InvalidData("NHS number fails the Modulus 11 check digit", field=field)
    return digits


def synthetic_numbers() -> Iterator[str]:
    """Valid NHS numbers of the 999 test range, never issued to patients, in order
    (about 909,000 of them: stems whose check digit would be 10 are skipped)."""
    for stem in range(999_000_000, 1_000_000_000):
        check = _nhs.calculate_checksum(str(stem))
        if check != 10:
            yield f"{stem}{check}"


def synthetic(n: int) -> str:
    """The n-th synthetic NHS number (0-based)."""
    return next(islice(synthetic_numbers(), n, None))
