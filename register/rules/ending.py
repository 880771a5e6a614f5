"""D: ending and reinstating an entitlement."""

from __future__ import annotations

from register.errors import RuleViolation
from register.model import EndDecision, EndReason, Entitlement, EntitlementStatus, Review
from register.rules.ports import Commencement
from register.rules.reviews import reviews_since_start

# D3: reasons that never justify ending s117 on their own.
INSUFFICIENT = frozenset({
    EndReason.DISCHARGED_FROM_SPECIALIST_SERVICES,
    EndReason.TIME_ELAPSED,
    EndReason.DEPRIVED_OF_LIBERTY_MCA,
    EndReason.READMITTED_INFORMAL_OR_S2,
    EndReason.CTO_OR_LEAVE_ENDED,
    EndReason.REFUSED_SERVICES,
})


def _agreement(decision: EndDecision) -> None:
    """D1: both bodies agreed, each with who and when, and the person was involved."""
    missing = []
    for body, agreed, by, on in (("la", decision.la_agreed, decision.la_agreed_by,
                                  decision.la_agreed_on),
                                 ("icb", decision.icb_agreed, decision.icb_agreed_by,
                                  decision.icb_agreed_on)):
        if not agreed:
            missing.append(f"{body}-agreed")
        elif not by.strip():
            missing.append(f"{body}-agreed-by")
        elif on is None:
            missing.append(f"{body}-agreed-on")
    if not decision.person_involved:
        missing.append("person-involved")
    if missing:
        raise RuleViolation("s117 ends only on a joint decision of the responsible local "
                            "authority and ICB, each recording who agreed and when, with the "
                            "person involved; missing: " + ", ".join(missing), rule="D1",
                            field=missing[0])
    for body, on in (("la", decision.la_agreed_on), ("icb", decision.icb_agreed_on)):
        if on and on > decision.decision_date:
            raise RuleViolation(f"the {body.upper()} agreed on {on}, after the joint decision "
                                f"of {decision.decision_date}: the joint decision is made "
                                "once both have agreed", rule="D1", field=f"{body}-agreed-on")


def check_notice(entitlement: Entitlement, decision: EndDecision,
                 commenced: Commencement | None) -> None:
    """D8 (MHA 2025 s46(2), once switched on): a decision dated on or after the commencement
    ends s117 only by the joint notice in writing to the person: its date, both bodies, how
    it was given and the document. Death ends aftercare without a notice."""
    if commenced is None or EndReason.DIED in decision.reasons:
        return
    notice = decision.notice
    law = (f"from {commenced.on} s117 ends only when the local authority and the ICB jointly "
           "give notice in writing to the person (Mental Health Act 2025 s46(2))")
    if notice is None:
        raise RuleViolation(f"{law}: give notice-date, notice-given-by (both bodies), "
                            "notice-method and notice-document", rule="D8", field="notice-date")
    cur = entitlement.current
    bodies = [b for b in (cur.local_authority, cur.icb) if b] if cur else []
    missing = [b for b in bodies if b not in notice.given_by]
    if len(notice.given_by) < 2 or missing:
        raise RuleViolation(f"{law}: the notice is given by both bodies; "
                            + (f"missing {', '.join(missing)}" if missing
                               else "name the local authority and the ICB"),
                            rule="D8", field="notice-given-by")
    if not (notice.document_title.strip() or notice.document_url):
        raise RuleViolation(f"{law}: attach the notice (a title or a URL of the document)",
                            rule="D8", field="notice-document")
    if decision.ends_on < notice.given_on:
        raise RuleViolation(f"{law}: aftercare cannot end on {decision.ends_on}, before the "
                            f"notice of {notice.given_on}", rule="D8", field="notice-date")


def check_end(entitlement: Entitlement, decision: EndDecision, *, cto_in_force: bool,
              conditionally_discharged_restricted: bool, specialist_accommodation: bool,
              reviews: list[Review], notice_from: Commencement | None = None) -> None:
    """Raise RuleViolation naming the first rule an end decision breaks (D1-D5, D8)."""
    if entitlement.status is not EntitlementStatus.ACTIVE:
        raise RuleViolation(f"only an active entitlement can be ended; this one is "
                            f"{entitlement.status.value}", rule="D1", field="status")
    if not decision.reasons:
        raise RuleViolation("an end decision must give its reasons", rule="D1", field="reason")
    died = EndReason.DIED in decision.reasons
    if not died:
        _agreement(decision)
    if decision.end_date and decision.end_date < decision.decision_date:
        raise RuleViolation(f"the formal end date {decision.end_date} is before the decision "
                            f"of {decision.decision_date}", rule="D5", field="end-date")
    if cto_in_force:
        raise RuleViolation("the person is on a community treatment order: s117 cannot end "
                            "while it is in force", rule="D2", field="decision-date")
    if conditionally_discharged_restricted and not died:
        raise RuleViolation("a conditionally discharged restricted patient is flagged for "
                            "review rather than ended", rule="D2", field="decision-date")
    if all(r in INSUFFICIENT for r in decision.reasons):
        raise RuleViolation("these reasons are not enough on their own to end s117: "
                            + ", ".join(r.value for r in decision.reasons), rule="D3",
                            field="reason")
    if (specialist_accommodation and not decision.moved_to_suitable_accommodation
            and not died):
        raise RuleViolation("the aftercare includes specialist accommodation: record the move "
                            "to other suitable accommodation before ending", rule="D4",
                            field="moved-to-suitable-accommodation")
    if not died:
        _at_a_review(entitlement, decision, reviews)
    check_notice(entitlement, decision, notice_from)


def _at_a_review(entitlement: Entitlement, decision: EndDecision,
                 reviews: list[Review]) -> None:
    """D1: the bodies are satisfied at a review that aftercare is no longer needed."""
    held = [r for r in reviews_since_start(entitlement, reviews)
            if r.on <= decision.decision_date]
    if not held:
        raise RuleViolation("an end decision is made at a review: no review of this "
                            "entitlement is recorded on or before "
                            f"{decision.decision_date}", rule="D1", field="decision-date")
    last = held[-1]
    if last.needs_arise_from_disorder and EndReason.NO_LONGER_NEEDED in decision.reasons:
        raise RuleViolation(f"the review of {last.on} found the person's needs still arise "
                            "from their mental disorder: record a review that finds they no "
                            "longer do before ending", rule="D1", field="reason")


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
