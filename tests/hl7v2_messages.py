"""Building synthetic HL7 v2 ADT messages for tests (CR-separated, as HL7 sends them)."""

from __future__ import annotations

from pathlib import Path

ITK = Path(__file__).resolve().parent / "samples" / "nhs-itk"  # tests/samples/README.md
SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def itk(name: str) -> bytes:
    """An NHS ITK sample as HL7 sends it: the reference copies are LF-separated."""
    return (ITK / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def seg(name: str, fields: dict[int, str]) -> str:
    last = max(fields)
    return name + "|" + "|".join(fields.get(i, "") for i in range(1, last + 1))


def adt(event: str, control: str, nhs: str | None, *extra: str, sender: str = "RLQ",
        at: str = "20250110100000", pid: dict[int, str] | None = None,
        version: str = "2.4") -> bytes:
    segments = [f"MSH|^~\\&|PAS|{sender}|S117|S117|{at}||ADT^{event}^ADT_A01|{control}|P|"
                f"{version}", seg("EVN", {2: at, 6: at})]
    if nhs is not None:
        segments.append(seg("PID", pid or {
            1: "1", 3: f"{nhs}^^^NHS^NH", 5: "SMITH^JO", 7: "19800501",
            11: "1 HIGH ST^^HEREFORD^^HR1 1AA^GBR^H"}))
        segments.append(seg("PD1", {3: "PRACTICE^^Z10001"}))
    segments += extra
    return ("\r".join(segments) + "\r").encode()


def pv1(visit: str, admitted: str = "20250110100000", discharged: str | None = None,
        patient_class: str = "I") -> str:
    fields = {1: "1", 2: patient_class, 3: "WARD1", 19: visit, 44: admitted}
    if discharged:
        fields[45] = discharged
    return seg("PV1", fields)


def zmh(code: str, start: str, end: str = "", event: str = "", or_la: str = "",
        restricted: str = "N") -> str:
    return f"ZMH|{code}|{start}|{end}|{event}|{or_la}|{restricted}"


def admission(nhs: str, control: str, visit: str = "V-1", code: str = "3",
              at: str = "20250110100000", sender: str = "RLQ") -> bytes:
    return adt("A01", control, nhs, pv1(visit, at), zmh(code, at), sender=sender, at=at)


def discharge(nhs: str, control: str, visit: str = "V-1", admitted: str = "20250110100000",
              at: str = "20250301120000", sender: str = "RLQ") -> bytes:
    return adt("A03", control, nhs, pv1(visit, admitted, at), sender=sender, at=at)


def framed(message: bytes) -> bytes:
    return SB + message + EB + CR
