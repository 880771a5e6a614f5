"""`s117 demo`: the holder timeline cases of RULES.md N (December 2026 edition), each a
named synthetic person whose NHS body changes over time the way the law says.

Kept apart from the other named cases (adapter/synthetic.py) so that each set can grow on its own.
The 2026 merger case needs the provisional 2026-04-01 succession files, which the demo loads.
"""

from __future__ import annotations

from datetime import date, datetime

from adapter.synthetic import Area
from register import commands as c
from register.model import Address
from register.nhs_number import synthetic

NORWICH_PRACTICE, NORFOLK = "Z70001", "E10000020"  # sub-ICB 26A of QMM (fixture epraccur)
FIRST = 70  # synthetic numbers 70-75: clear of the other named cases (O flags: 60-64)


def _t(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00")


def _stay(nhs: str, key: str, area: Area, admitted: str, discharged: str | None, *,
          practice: str | None = None, or_la: str | None = None,
          application: str | None = None) -> list[c.Command]:
    cmds: list[c.Command] = [c.Admit(
        command_id=f"demo-n-{key}-a", nhs_number=nhs, occurred_at=_t(admitted),
        trust_ods="R1A", stay_ref=f"N-{key}", admitted_at=_t(admitted), legal_status="03",
        residence_before=Address(postcode=area.postcode), gp_practice=practice or area.practice,
        or_la=or_la, application_on=date.fromisoformat(application) if application else None)]
    if discharged:
        cmds.append(c.Discharge(
            command_id=f"demo-n-{key}-d", nhs_number=nhs, occurred_at=_t(discharged, 15),
            trust_ods="R1A", stay_ref=f"N-{key}", discharged_at=_t(discharged, 15)))
    return cmds


def _gp(nhs: str, key: str, practice: str, day: str) -> c.UpdatePerson:
    """An A31 with EVN-6: the GP registration from that day."""
    return c.UpdatePerson(command_id=f"demo-n-{key}", nhs_number=nhs, occurred_at=_t(day),
                          gp_practice=practice, effective=date.fromisoformat(day),
                          dated_by="EVN-6 (event occurred)")


def timeline_cases(hereford: Area, swindon: Area, gloucester: Area,
                   birmingham_practice: str) -> list[tuple[str, str, list[c.Command]]]:
    """(title, NHS number, commands) for each N-rule case."""
    n = [synthetic(FIRST + i) for i in range(6)]
    gp_changes = _stay(n[0], "n2", hereford, "2013-06-03", "2013-09-02")
    gp_changes += [_gp(n[0], "n2-gp1", swindon.practice or "", "2014-05-01"),
                   _gp(n[0], "n2-gp2", gloucester.practice or "", "2015-02-02")]
    freeze = _stay(n[1], "n3", hereford, "2015-11-02", "2016-01-15")
    freeze.append(_gp(n[1], "n3-gp", swindon.practice or "", "2017-03-01"))
    redetained = _stay(n[4], "n7a", hereford, "2023-02-01", "2023-05-02")
    redetained.append(_gp(n[4], "n7-gp", swindon.practice or "", "2023-06-01"))
    redetained += _stay(n[4], "n7b", swindon, "2024-06-03", "2024-09-02")
    return [
        ("2013-16 (N2): the CCG follows each GP change; frozen from 2016-04-01 (N3); from "
         "2022-07-01 the ICB of core responsibility then (N5b)", n[0], gp_changes),
        ("The 2016 freeze (N3): in aftercare on 2016-03-31, a 2017 GP move does not move the "
         "CCG; on 2022-07-01 the ICB by the GP then (N5b)", n[1], freeze),
        ("Reg 7(3) (N5b): detained 2018 living in Herefordshire, registered in Birmingham: "
         "QHL from 2022-07-01, not QGH (the successor of the 2018 CCG)", n[2],
         _stay(n[2], "n5b", hereford, "2018-03-05", "2018-06-01",
               practice=birmingham_practice)),
        ("Reg 6 (N5a): in detention on 2022-07-01", n[3],
         _stay(n[3], "n5a", swindon, "2022-05-20", "2022-08-10", application="2022-05-19")),
        ("N7 after 2022: detained again from a Swindon placement: the council moves (L3), "
         "the ICB stays", n[4], redetained),
        ("2026 merger (N6): Norfolk and Waveney ICB's duty passes to the Norfolk and Suffolk "
         "ICB on 2026-04-01 (provisional code)", n[5],
         _stay(n[5], "n6", Area("NR1 1AA", NORFOLK, NORWICH_PRACTICE), "2023-03-01",
               "2023-06-01", or_la=NORFOLK, application="2023-02-28")),
    ]
