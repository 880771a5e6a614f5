"""Question pages in the NHS.UK design system's pattern: a form's fields, what a person typed
(kept as typed, so a page shown again holds it), checked into values with one error message
per field, and the refusals of the register mapped back onto the field they are about.

A form never trusts what comes back from its "check your answers" page: the answers travel
as hidden fields and are checked again before the command is made."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from register.errors import RegisterError

Options = tuple[tuple[str, str], ...]  # (value, text)
FUNDER_ROWS = 3  # a service line's funders: up to three payers on the page


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # text | textarea | date | money | radios | checkboxes | select | funders
    hint: str = ""
    options: Options = ()
    required: bool = True
    width: int = 0  # characters, for short text inputs

    @property
    def anchor(self) -> str:
        """The id an error summary links to: the first input of the field."""
        if self.kind == "date":
            return f"{self.name}-day"
        if self.kind == "funders":
            return f"{self.name}-1-org"
        return self.name


@dataclass
class Answers:
    """What was typed, by field name (checkboxes: a list), and the errors found."""

    raw: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def hidden(self, fields: tuple[Field, ...]) -> list[tuple[str, str]]:
        """The answers as (name, value) pairs for the check page's hidden inputs."""
        out: list[tuple[str, str]] = []
        for f in fields:
            for name in input_names(f):
                value = self.raw.get(name)
                for one in value if isinstance(value, list) else [value or ""]:
                    out.append((name, one))
        return out


def input_names(f: Field) -> list[str]:
    if f.kind == "date":
        return [f"{f.name}[{part}]" for part in ("day", "month", "year")]
    if f.kind == "funders":
        return [f"{f.name}-{i}-{part}" for i in range(1, FUNDER_ROWS + 1)
                for part in ("org", "share")]
    return [f.name]


def collect(fields: tuple[Field, ...], form: Mapping[str, Any]) -> Answers:
    """Read a posted form (a werkzeug MultiDict or a dict) into raw answers."""
    answers = Answers()
    for f in fields:
        for name in input_names(f):
            if f.kind == "checkboxes":
                getter = getattr(form, "getlist", None)
                answers.raw[name] = list(getter(name)) if getter else list(form.get(name, []))
            else:
                answers.raw[name] = str(form.get(name, "")).strip()
    return answers


def check(fields: tuple[Field, ...], answers: Answers) -> Answers:
    """Each field's value, or its error message (design system wording: say what to do)."""
    for f in fields:
        try:
            value = _value(f, answers.raw)
        except ValueError as exc:
            answers.errors[f.name] = str(exc)
            continue
        if f.required and value in (None, "", []):
            answers.errors[f.name] = _missing(f)
            continue
        answers.values[f.name] = value
    return answers


def _missing(f: Field) -> str:
    label = f.label[0].lower() + f.label[1:]
    if f.kind in ("radios", "select"):
        return f"Select {label}"
    if f.kind == "checkboxes":
        return f"Select at least one: {label}"
    return f"Enter {label}"


def _value(f: Field, raw: dict[str, Any]) -> Any:
    if f.kind == "date":
        return _date(f, raw)
    if f.kind == "funders":
        return _funders(f, raw)
    value = raw.get(f.name)
    if f.kind == "checkboxes":
        allowed = {v for v, _ in f.options}
        chosen = [v for v in value or [] if v]
        if any(v not in allowed for v in chosen):
            raise ValueError(f"Select only from the list: {f.label.lower()}")
        return chosen
    if f.kind in ("radios", "select") and value and value not in {v for v, _ in f.options}:
        raise ValueError(f"Select {f.label.lower()} from the list")
    if f.kind == "money" and value:
        return _money(value, f.label)
    return value


def _money(text: str, label: str) -> Decimal:
    try:
        amount = Decimal(text.replace("£", "").replace(",", "").strip())
    except InvalidOperation:
        raise ValueError(f"{label} must be an amount in pounds, like 450.00") from None
    if amount < 0 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{label} must be an amount in pounds and pence, 0 or more")
    return amount


def _date(f: Field, raw: dict[str, Any]) -> date | None:
    day, month, year = (raw.get(f"{f.name}[{p}]", "") for p in ("day", "month", "year"))
    if not (day or month or year):
        return None
    if not (day and month and year):
        missing = [p for p, v in (("day", day), ("month", month), ("year", year)) if not v]
        raise ValueError(f"{f.label} must include a {' and '.join(missing)}")
    if not (day.isdigit() and month.isdigit() and year.isdigit() and len(year) == 4):
        raise ValueError(f"{f.label} must be a real date, like 27 3 2026")
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"{f.label} must be a real date") from None


def _funders(f: Field, raw: dict[str, Any]) -> list[tuple[str, Decimal]]:
    out = []
    for i in range(1, FUNDER_ROWS + 1):
        org, share = raw.get(f"{f.name}-{i}-org", ""), raw.get(f"{f.name}-{i}-share", "")
        if not org and not share:
            continue
        if not org:
            raise ValueError(f"Funder {i}: select who pays")
        if not re.fullmatch(r"\d+(\.\d+)?", share.rstrip("%").strip()):
            raise ValueError(f"Funder {i}: enter the share as a percentage, like 60")
        out.append((org, Decimal(share.rstrip("%").strip())))
    return out


def shown(f: Field, answers: Answers) -> str:
    """An answer as the check page shows it."""
    value = answers.values.get(f.name)
    if value in (None, "", []):
        return "Not given"
    labels = dict(f.options)
    if f.kind == "date":
        return value.strftime("%-d %B %Y")
    if f.kind == "checkboxes":
        return "; ".join(labels.get(v, v) for v in value)
    if f.kind in ("radios", "select"):
        return labels.get(value, value)
    if f.kind == "money":
        return f"£{value:,.2f}"
    if f.kind == "funders":
        return "; ".join(f"{labels.get(org, org)} {share}%" for org, share in value)
    return str(value)


def refusal(exc: RegisterError, fields: tuple[Field, ...],
            where: Mapping[str, str]) -> tuple[str, str]:
    """(form field, message) for a refusal of the register: the rule id first, as the
    API's OperationOutcome and the council file's report name it, then its reason."""
    name = exc.field or ""
    name = re.sub(r"^lines\[\d+\]\.", "", name)
    name = re.sub(r"\[\d+\].*$", "", name)
    target = where.get(name, name)
    if target not in {f.name for f in fields}:
        target = fields[0].name
    prefix = f"Rule {exc.rule}: " if exc.rule else ""
    return target, prefix + exc.message[0].upper() + exc.message[1:]
