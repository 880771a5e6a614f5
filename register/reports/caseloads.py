"""Who is responsible for how many (entitled people by responsible council and ICB), and
out-of-area placements: people one council is responsible for who live in another's area
(rule L2: the placement does not move responsibility)."""

from __future__ import annotations

from collections import Counter

from register.model import EntitlementStatus
from register.reports import Chart, Inputs, Report, named


def by_body(inputs: Inputs) -> Report:
    counts: Counter[tuple[str, str, str]] = Counter()
    for case in inputs.cases:
        for stored in case.entitlements:
            ent = stored.entitlement
            status = ent.status_on(inputs.on)
            if status not in (EntitlementStatus.ACTIVE, EntitlementStatus.PLANNED):
                continue
            resp = ent.responsibility_on(inputs.on)
            for kind, code in (("council", resp.local_authority if resp else None),
                               ("ICB", resp.icb if resp else None)):
                counts[(kind, named(code, inputs.name_of), status.value)] += 1
                if case.owner is not None:
                    counts[(kind, named(code, inputs.name_of), "replica")] += 1
    bodies = sorted({(kind, body) for kind, body, _ in counts})
    rows = tuple((f"{kind}: {body}", counts[(kind, body, "active")],
                  counts[(kind, body, "planned")], counts[(kind, body, "replica")])
                 for kind, body in bodies)
    return Report(
        "entitled-by-body", "Entitled people by responsible council and ICB",
        "People entitled to s117 aftercare (aftercare has begun) and people detained under "
        "a qualifying section whose aftercare is being planned, by the council and the ICB "
        "responsible for them today. Of those, the ones whose record another regional "
        "register owns (replicas): national totals count them once, at their owner.",
        ("responsible body", "entitled", "in planning", "of which replicas"), rows,
        Chart("barh", "responsible body", ("entitled", "in planning"), "People",
              "Responsible body"))


def out_of_area(inputs: Inputs) -> Report:
    counts: Counter[tuple[str, str]] = Counter()
    for case in inputs.cases:
        for stored in case.entitlements:
            ent = stored.entitlement
            resp = ent.responsibility_on(inputs.on)
            la, lives = (resp.local_authority if resp else None), stored.residence_la
            if ent.status_on(inputs.on) is EntitlementStatus.ACTIVE and la and lives \
                    and la != lives:
                counts[(named(la, inputs.name_of), named(lives, inputs.name_of))] += 1
    rows = tuple((f"{placing} to {host}", placing, host, n)
                 for (placing, host), n in sorted(counts.items()))
    return Report(
        "out-of-area", "Out-of-area placements between areas",
        "People receiving aftercare who live in another council's area than the council "
        "responsible for them (rule L2): the placing council stays responsible.",
        ("placement", "responsible council", "lives in", "people"), rows,
        Chart("barh", "placement", ("people",), "People", "Responsible council to area"))
