"""One message from any transport (MLLP, `POST /hl7v2`, `POST /fhir/$process-message`):
checked, made durable on the process's one inbound bus, and answered (`hl7v2.py`: the HL7
ACK; `fhir.py`: what the FHIR route answers). adapter.bootstrap.intake builds it."""

from __future__ import annotations

from dataclasses import dataclass

from adapter.intake.fhir import FhirIntake
from adapter.intake.hl7v2 import Hl7Intake


@dataclass(frozen=True)
class Intake:
    """Both intakes of a process, sharing its bus (and so, embedded, its processor)."""

    hl7v2: Hl7Intake
    fhir: FhirIntake

    def close(self) -> None:
        self.hl7v2.bus.close()
