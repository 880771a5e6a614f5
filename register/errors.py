"""Errors the core raises. Each names the rule id or the field at fault so that
every edge (HL7 ACK, OperationOutcome, CLI) can tell the sender what and where."""

from __future__ import annotations


class RegisterError(Exception):
    """Base class: a command was refused and nothing was changed."""

    def __init__(self, message: str, *, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def __str__(self) -> str:
        where = " ".join(p for p in (f"rule {self.rule}" if self.rule else "",
                                     f"field {self.field}" if self.field else "") if p)
        return f"{self.message} ({where})" if where else self.message


class InvalidData(RegisterError):
    """The command carries a value that is malformed or unknown (bad NHS number, unknown code)."""


class RuleViolation(RegisterError):
    """The command is well formed but the law (a rule id of RULES.md) forbids it."""


class NotFound(RegisterError):
    """The command names a person or entitlement the register does not hold."""


class ConcurrencyConflict(RegisterError):
    """Someone else changed the aggregate since it was read (optimistic concurrency)."""


class StaleVersion(ConcurrencyConflict):
    """The command was made against a version of the record that is no longer current."""


class CommandRefused(RegisterError):
    """One command of several applied together was refused, so none was applied."""

    def __init__(self, index: int, cause: RegisterError) -> None:
        super().__init__(cause.message, field=cause.field, rule=cause.rule)
        self.index = index
        self.cause = cause
