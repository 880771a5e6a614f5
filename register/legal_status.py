"""Mental Health Act legal status classification codes (NHS Data Dictionary, England).

UK Core CodeSystem UKCore-LegalStatusClassificationEngland. Older HL7 v2 feeds send codes
without zero padding ("3" for "03") and the legacy codes 33 and 34; `normalise` maps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from register.errors import InvalidData

CODE_SYSTEM = "https://fhir.hl7.org.uk/CodeSystem/UKCore-LegalStatusClassificationEngland"


class Qualifies(StrEnum):
    YES = "yes"
    NO = "no"
    REVIEW = "review"


@dataclass(frozen=True)
class LegalStatus:
    code: str
    display: str
    qualifies: Qualifies
    restricted: bool = False


_TABLE: dict[str, LegalStatus] = {
    s.code: s
    for s in (
        LegalStatus("01", "Informal", Qualifies.NO),
        LegalStatus("02", "Section 2 (assessment)", Qualifies.NO),
        LegalStatus("03", "Section 3 (treatment)", Qualifies.YES),
        LegalStatus("04", "Section 4 (emergency assessment)", Qualifies.NO),
        LegalStatus("05", "Section 5(2) (doctor's holding power)", Qualifies.NO),
        LegalStatus("06", "Section 5(4) (nurse's holding power)", Qualifies.NO),
        LegalStatus("07", "Section 35 (remand for report)", Qualifies.NO),
        LegalStatus("08", "Section 36 (remand for treatment)", Qualifies.NO),
        LegalStatus("09", "Section 37 with section 41 restrictions", Qualifies.YES, True),
        LegalStatus("10", "Section 37 (hospital order)", Qualifies.YES),
        LegalStatus("12", "Section 38 (interim hospital order)", Qualifies.NO),
        LegalStatus("13", "Section 44", Qualifies.NO),
        LegalStatus("14", "Section 46", Qualifies.NO),
        LegalStatus("15", "Section 47 with section 49 restrictions", Qualifies.YES, True),
        LegalStatus("16", "Section 47 (transfer direction)", Qualifies.YES),
        LegalStatus("17", "Section 48 with section 49 restrictions", Qualifies.YES, True),
        LegalStatus("18", "Section 48 (removal to hospital)", Qualifies.YES),
        LegalStatus("19", "Section 135 (place of safety)", Qualifies.NO),
        LegalStatus("20", "Section 136 (place of safety)", Qualifies.NO),
        LegalStatus("31", "Criminal Procedure (Insanity) Act 1964", Qualifies.REVIEW),
        LegalStatus("32", "Detained under other acts", Qualifies.NO),
        LegalStatus("33", "Supervised discharge (repealed, legacy code)", Qualifies.NO),
        LegalStatus("35", "Guardianship (section 7)", Qualifies.NO),
        LegalStatus("36", "Guardianship order (section 37)", Qualifies.NO),
        LegalStatus("37", "Section 45A (limitation direction in force)", Qualifies.YES, True),
        LegalStatus("38", "Section 45A (limitation direction ended)", Qualifies.YES),
        LegalStatus("98", "Not applicable", Qualifies.NO),
        LegalStatus("99", "Not known", Qualifies.NO),
    )
}

# Legacy code 34 was s45A before the 2014 list; it is the same status as 37.
_LEGACY = {"34": "37"}

DETENTION_NOT_KNOWN = "99"


def normalise(raw: str) -> str:
    """Return the two-digit current code for a raw value, or raise InvalidData."""
    value = str(raw).strip()
    if value.isdigit() and len(value) == 1:
        value = "0" + value
    value = _LEGACY.get(value, value)
    if value not in _TABLE:
        raise InvalidData(f"unknown Mental Health Act legal status code {raw!r}",
                          field="legal_status")
    return value


def lookup(code: str) -> LegalStatus:
    return _TABLE[normalise(code)]


def all_codes() -> list[LegalStatus]:
    return list(_TABLE.values())
