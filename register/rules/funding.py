"""F1: s117 services are free to the person.

The care-plan checks of F2-F5 live with the aftercare plan; F1 is the core rule every
charge must pass.
"""

from __future__ import annotations

from register.errors import RuleViolation

S117 = "s117"
S117A_TOP_UP = "s117a-top-up"


def check_personal_payment(funding_basis: str, personal_share_percent: float) -> None:
    """Refuse any payment by the person towards an s117 service (F1); an s117A top-up for a
    preferred placement is recorded under its own basis and is the only exception."""
    if funding_basis == S117 and personal_share_percent > 0:
        raise RuleViolation("services under s117 are free to the person: no personal payment "
                            "except an s117A top-up recorded as such", rule="F1",
                            field="funder")
