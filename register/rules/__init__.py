"""The rules engine: small pure functions, one module per section of RULES.md.

Every answer carries the rule ids applied (`RuleApplied`), a plain-English reason and the
citation; anything the law leaves unsettled comes back as a *needs review* reason.
"""
