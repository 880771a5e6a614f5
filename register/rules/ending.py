"""D: ending and reinstating an entitlement."""

from __future__ import annotations

from register.errors import RuleViolation
from register.model import EndDecision, EndReason, Entitlement, EntitlementStatus

# D3: reasons that never justify ending s117 on their own.
INSUFFICIENT = frozenset({
    EndReason.DISCHARGED_FROM_SPECIALIST_SERVICES,
    EndReason.TIME_ELAPSED,
    EndReason.DEPRIVED_OF_LIBERTY_MCA,
    EndReason.READMITTED_INFORMAL_OR_S2,
    EndReason.CTO_OR_LEAVE_ENDED,
    EndReason.REFUSED_SERVICES,
})


def check_end(entitlement: Entitlement, decision: EndDecision, *, cto_in_force: bool,
              conditionally_discharged_restricted: bool,
              specialist_accommodation: bool) -> None:
    """Raise RuleViolation naming the first rule an end decision breaks (D1-D4)."""
    if entitlement.status is not EntitlementStatus.ACTIVE:
        raise RuleViolation(f"only an active entitlement can be ended; this one is "
                            f"{entitlement.status.value}", rule="D1", field="status")
    if not decision.reasons:
        raise RuleViolation("an end decision must give its reasons", rule="D1", field="reason")
    missing = [name for name, ok in (("la-agreed", decision.la_agreed),
                                     ("icb-agreed", decision.icb_agreed),
                                     ("person-involved", decision.person_involved)) if not ok]
    if EndReason.DIED not in decision.reasons and missing:
        raise RuleViolation("s117 ends only on a joint decision of the responsible local "
                            "authority and ICB with the person involved; missing: "
                            + ", ".join(missing), rule="D1", field=missing[0])
    if cto_in_force:
        raise RuleViolation("the person is on a community treatment order: s117 cannot end "
                            "while it is in force", rule="D2", field="decision-date")
    if conditionally_discharged_restricted and EndReason.DIED not in decision.reasons:
        raise RuleViolation("a conditionally discharged restricted patient is flagged for "
                            "review rather than ended", rule="D2", field="decision-date")
    if all(r in INSUFFICIENT for r in decision.reasons):
        raise RuleViolation("these reasons are not enough on their own to end s117: "
                            + ", ".join(r.value for r in decision.reasons), rule="D3",
                            field="reason")
    if (specialist_accommodation and not decision.moved_to_suitable_accommodation
            and EndReason.DIED not in decision.reasons):
        raise RuleViolation("the aftercare includes specialist accommodation: record the move "
                            "to other suitable accommodation before ending", rule="D4",
                            field="moved-to-suitable-accommodation")


def check_reinstate(entitlement: Entitlement, is_latest: bool) -> None:
    """D6: only an ended entitlement (not superseded by a newer one) can be reinstated."""
    if entitlement.status is not EntitlementStatus.ENDED:
        raise RuleViolation(f"only an ended entitlement can be reinstated; this one is "
                            f"{entitlement.status.value}", rule="D6", field="status")
    if "died" in entitlement.end_reasons:
        raise RuleViolation("the person died: the entitlement cannot be reinstated", rule="D6")
    if not is_latest:
        raise RuleViolation("a newer entitlement exists for this person; reinstate that one "
                            "or record a new detention", rule="D6")
