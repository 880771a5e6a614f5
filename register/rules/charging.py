"""O4: people charged for services that s117 makes free.

Two ways in: a council records a charge (period, amount, refund) it has found or been told
of; and the register notices a plan change that moves an s117 service to Care Act funding
while the person stays in the same placement (LGSCO City of York 25 002 735), which only a
joint end decision (D1) may do.
"""

from __future__ import annotations

from datetime import date

from register import commands as c
from register.errors import InvalidData
from register.model import AftercarePlan, Charge, FundingBasis, FundingMove, ServiceLine


def _same_placement(old: ServiceLine, new: ServiceLine) -> bool:
    """The same line, or the same provider giving the same accommodation service."""
    if old.id == new.id:
        return True
    return bool(old.provider.strip()) and old.provider.strip().lower() == \
        new.provider.strip().lower() and old.service_type is new.service_type


def funding_moves(before: list[ServiceLine], after: AftercarePlan,
                  today: date) -> list[FundingMove]:
    """The accommodation lines of `after` whose funding moved between s117 and the Care Act
    compared with the lines the entitlement had `before` (the plan's previous version, or
    the plan in force before it)."""
    out = []
    for new in after.lines:
        if not new.is_accommodation:
            continue
        for old in before:
            if not (old.is_accommodation and _same_placement(old, new)):
                continue
            pair = (old.funding_basis, new.funding_basis)
            if pair in ((FundingBasis.S117, FundingBasis.CARE_ACT),
                        (FundingBasis.CARE_ACT, FundingBasis.S117)):
                out.append(FundingMove(after.entitlement_id, after.id, new.id, new.provider,
                                       new.starts_on or today,
                                       to_s117=new.funding_basis is FundingBasis.S117))
            break
    return out


def record_charge(cmd: c.RecordCharge, entitlement_id: str, today: date) -> Charge:
    """A charge as recorded (a later record with the same id replaces it: the refund)."""
    if cmd.amount <= 0:
        raise InvalidData("the amount charged is more than 0", field="amount")
    if cmd.charged_to and cmd.charged_to < cmd.charged_from:
        raise InvalidData(f"the charge ends ({cmd.charged_to}) before it starts "
                          f"({cmd.charged_from})", field="charged_to")
    if cmd.charged_from > today:
        raise InvalidData(f"charged_from {cmd.charged_from} is in the future",
                          field="charged_from")
    if (cmd.refunded_amount is None) != (cmd.refunded_on is None):
        raise InvalidData("a refund gives both its amount and its date",
                          field="refunded_on" if cmd.refunded_on is None else "refunded_amount")
    if cmd.refunded_amount is not None and cmd.refunded_amount < 0:
        raise InvalidData("a refund cannot be negative", field="refunded_amount")
    if cmd.refunded_on and cmd.refunded_on < cmd.charged_from:
        raise InvalidData(f"the refund ({cmd.refunded_on}) is before the charge "
                          f"({cmd.charged_from})", field="refunded_on")
    return Charge(cmd.charge_id, entitlement_id, cmd.charged_from, cmd.amount, cmd.charged_to,
                  cmd.charged_by, cmd.line_id, cmd.refunded_amount, cmd.refunded_on, cmd.note,
                  today)
