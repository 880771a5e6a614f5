"""Postcode normal form: upper case, one space before the inward code (ONSPD `pcds`)."""

from __future__ import annotations

import re

_POSTCODE = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")


def normalise_postcode(raw: str) -> str | None:
    """`hr11aa` -> `HR1 1AA`; None when it is not shaped like a UK postcode."""
    compact = re.sub(r"\s+", "", raw or "").upper()
    match = _POSTCODE.match(compact)
    return f"{match.group(1)} {match.group(2)}" if match else None
