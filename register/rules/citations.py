"""Rule ids of RULES.md with the law or guidance behind each (shown to council officers)."""

from __future__ import annotations

from register.model import RuleApplied

CITATIONS: dict[str, str] = {
    "E1": "Mental Health Act 1983 s117(1)",
    "E2": "DHSC/NHS England statutory guidance, Discharge from mental health inpatient "
    "settings (January 2024), principle 3 (planning starts on admission or before)",
    "E3": "Mental Health Act 1983 s17A and s117(2)",
    "E4": "R (CXF) v Central Bedfordshire Council [2017] EWHC 2311 (Admin); R v Richmond LBC "
    "ex p Watson [1999]; local policy (trial leave with an aftercare plan, default off)",
    "E5": "Mental Health Act 1983 s117(1); s2 converted to s3",
    "E6": "Mental Health Act 1983 s117(1) (no age limit)",
    "E7": "Register policy: unsettled qualification is reviewed, never dropped",
    "L1": "Mental Health Act 1983 s117(3), as amended by Care Act 2014 s75",
    "L2": "LGSCO/PHSO guidance on s117 aftercare (2022); Care Act 2014 s39 not applied to s117",
    "L3": "R (Worcestershire CC) v Secretary of State for Health and Social Care [2023] UKSC 31",
    "L4": "Mental Health Act 1983 s117(1)-(3); informal or s2 admission is not a detention under "
    "a qualifying section",
    "L5": "Care Act 2014 s40 via Mental Health Act 1983 s117(4); Care and Support Statutory "
    "Guidance ch. 19",
    "L6": "Rule sets by effective date; Mental Health Act 2025 s56 (commencement by "
    "regulations, none made for s46 as of December 2026): switched on by locality policy",
    "L7": "Mental Health Act 1983 s117(3A) inserted by Mental Health Act 2025 s46(3); Care Act "
    "2014 s39(1)-(6) and Sch. 1; Children Act 1989 s105(6)",
    "N1": "NHS England Who Pays? 2013 (pre-April 2013 PCT responsibility not settled here)",
    "N2": "NHS (Standing Rules) Regulations 2012 (SI 2012/2996) reg 14(2), as made; "
    "Who Pays? 2013",
    "N3": "Mental Health Act 1983 s117(3) as it then stood; NHS (Standing Rules) "
    "(Amendment) Regulations 2016, reg 14; Who Pays? 2016 (transitional freeze)",
    "N4": "Who Pays? August 2020 s18 (commissioning and originating/paying CCG)",
    "N5": "NHS (Integrated Care Boards: Responsibilities) Regulations 2022 (SI 2022/635) "
    "regs 5 and 7(2)",
    "N5a": "SI 2022/635 reg 6(2)-(4) and reg 7(2)",
    "N5b": "SI 2022/635 reg 7(3)",
    "N5c": "SI 2022/635 regs 7(4), 7(5) and 8",
    "N5d": "SI 2022/635 reg 5(2) (Part 2 applications only); Who Pays? 2022",
    "N6": "Health and Care Act 2022 (CCGs abolished 1 July 2022); ICB establishment and "
    "abolition orders; NHS ODS succession data",
    "N7": "SI 2022/635 reg 2(2), regs 5(3) and 7; NHS England, The effect of the "
    "Worcestershire decision (2023); Who Pays? 2024 s18",
    "N8": "SI 2022/635 regs 7(2)(b), 7(3)(c) and 8; Who Pays? 2022 transitional provisions; "
    "cross-border protocols",
    "F1": "Mental Health Act 1983 s117; R v Manchester CC ex p Stennett [2002] UKHL 34",
    "R1": "Local policy (first review within 6 weeks); LGSCO/PHSO guidance 2022",
    "R2": "Local policy (later reviews at most every 12 months); MHA Code of Practice 33.21",
    "R3": "MHA Code of Practice 2015 paras 33.20-33.22",
    "D1": "Mental Health Act 1983 s117(2); MHA Code of Practice 2015 paras 33.20-33.24",
    "D2": "Mental Health Act 1983 s117(2) (not while on a community treatment order)",
    "D3": "MHA Code of Practice 2015 para 33.22; LGSCO/PHSO guidance 2022",
    "D4": "LGSCO/PHSO guidance 2022 (accommodation as aftercare)",
    "D5": "LGSCO/PHSO guidance 2022 (record the date of discharge from s117)",
    "D6": "LGSCO/PHSO guidance 2022; local policy (reinstatement)",
    "D7": "R (Worcestershire CC) v SSHSC [2023] UKSC 31 (LA duty ends on re-detention)",
    "D8": "Mental Health Act 1983 s117(2) as amended by Mental Health Act 2025 s46(2) (joint "
    "notice in writing to the person)",
    "O1": "LGSCO/PHSO guidance 2022 (Sarah); LGSCO West Northamptonshire Council 24 015 710",
    "O2": "LGSCO London Borough of Ealing 25 000 832 (nine months without an assessment)",
    "O3": "LGSCO/PHSO Northamptonshire ICB 22 009 742a (entitlement not recorded)",
    "O4": "Mental Health Act 1983 s117; LGSCO City of York Council 25 002 735; LGSCO "
    "Manchester City Council 23 019 512 (refund with interest); Tinsley v Manchester CC "
    "[2017] EWCA Civ 1704",
    "O5": "LGSCO Worcestershire County Council 24 014 179 (a move does not transfer the s117 "
    "duty); RULES.md L2",
}


def applied(rule_id: str, reason: str) -> RuleApplied:
    return RuleApplied(rule_id=rule_id, reason=reason, citation=CITATIONS[rule_id])


def review(rule_id: str, reason: str) -> str:
    """A needs-review reason always starts with the rule id it comes from."""
    return f"{rule_id}: {reason}"
