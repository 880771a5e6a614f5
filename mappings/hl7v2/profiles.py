"""Per-trust mapping profiles: where a trust's HL7 v2 feed puts what the register needs.

A profile is YAML data (shipped under `mappings/trusts/`, or a site's own directory named by
`S117_TRUST_PROFILES`), chosen by the sending facility (MSH-4), so a trust that sends legal
status in an OBX or in its own Z segment is taken on without a code change. Anything a profile
leaves out is the DESIGN.md default: NHS number in PID-3 with assigning authority NHS, the stay
in PV1-19, legal status in the project's ZMH segment and the ITK ZU5 segment. The schema is
below (marshmallow) and in docs/inbound.md ("Trust profiles"); `s117 mappings check FILE`
validates a file. Reading the files (and noticing when one changes) is
queues/inbound/trust_profiles.py: this module only parses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate

from register import legal_status
from register.errors import InvalidData

_FIELD_REF = re.compile(r"^([A-Z][A-Z0-9]{2})-(\d{1,3})(?:\.(\d{1,2}))?$")
_ODS = re.compile(r"^[A-Z0-9]{3,6}$")
EVENTS = ("CTO-START", "CTO-END", "CTO-RECALL", "COND-DISCHARGE", "S17-LEAVE")


@dataclass(frozen=True)
class FieldRef:
    segment: str
    field: int
    component: int = 1

    def __str__(self) -> str:
        return f"{self.segment}-{self.field}" + (f".{self.component}"
                                                 if self.component != 1 else "")


@dataclass(frozen=True)
class SegmentLayout:
    """A segment laid out like ZMH: one legal status period (and/or event) per occurrence.
    Numbers are field positions in that segment; None means the trust does not send it."""

    name: str
    code: int | None = 1
    start: int = 2
    end: int | None = 3
    event: int | None = 4
    or_la: int | None = 5
    restricted: int | None = 6
    application: int | None = 7  # date the Part 2 application was made (RULES.md N5)


ZMH = SegmentLayout("ZMH")


@dataclass(frozen=True)
class ObxSource:
    """Legal status sent as an observation: OBX-3.1 names it, OBX-5.1 is the code, the start
    is `start` (default OBX-14, observation time) or else the event time."""

    observation: str
    start: FieldRef = FieldRef("OBX", 14)


@dataclass(frozen=True)
class Profile:
    name: str
    senders: tuple[str, ...] = ()
    description: str = ""
    assigning_authorities: tuple[str, ...] = ("NHS",)
    identifier_types: tuple[str, ...] = ("NH", "HN")
    stay_id: FieldRef = FieldRef("PV1", 19)
    processing_ids: tuple[str, ...] = ("P",)
    zu5: bool = True
    segments: tuple[SegmentLayout, ...] = (ZMH,)
    obx: tuple[ObxSource, ...] = ()
    codes: dict[str, str] = field(default_factory=dict)  # the trust's code -> national code
    events: dict[str, str] = field(default_factory=dict)  # the trust's event word -> ZMH-4

    def national_code(self, raw: str) -> str:
        return self.codes.get(raw.strip(), raw.strip())

    def event_word(self, raw: str) -> str:
        word = raw.strip().upper()
        return self.events.get(word, word)


DEFAULT = Profile(name="default (DESIGN.md: PID-3 NHS, PV1-19, ZMH, ZU5)")


# -- schema -------------------------------------------------------------------------------

class FieldRefField(fields.String):
    """`PV1-19` or `PID-3.1`: segment, field, optional component."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> FieldRef:
        text = super()._deserialize(value, attr, data, **kwargs)
        match = _FIELD_REF.match(text.strip().upper())
        if not match:
            raise ValidationError(f"{text!r} is not a field reference like PV1-19 or OBX-5.1")
        return FieldRef(match[1], int(match[2]), int(match[3] or 1))


_position = dict(validate=validate.Range(1, 999), allow_none=True)


class SegmentSchema(Schema):
    name = fields.String(required=True, validate=validate.Regexp(
        r"^Z[A-Z0-9]{2}$", error="a trust's own segment is named Z followed by two capitals "
        "or digits"))
    code = fields.Integer(load_default=1, **_position)
    start = fields.Integer(load_default=2, validate=validate.Range(1, 999))
    end = fields.Integer(load_default=3, **_position)
    event = fields.Integer(load_default=4, **_position)
    or_la = fields.Integer(load_default=5, **_position)
    restricted = fields.Integer(load_default=6, **_position)
    application = fields.Integer(load_default=7, **_position)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> SegmentLayout:
        return SegmentLayout(**data)


class ObxSchema(Schema):
    observation = fields.String(required=True, validate=validate.Length(1, 100))
    start = FieldRefField(load_default=FieldRef("OBX", 14))

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> ObxSource:
        if data["start"].segment != "OBX":
            raise ValidationError("the start of an OBX legal status is a field of the OBX",
                                  "start")
        return ObxSource(**data)


class NhsNumberSchema(Schema):
    assigning_authorities = fields.List(fields.String(validate=validate.Length(1, 20)),
                                        load_default=["NHS"], validate=validate.Length(min=1))
    identifier_types = fields.List(fields.String(validate=validate.Length(1, 5)),
                                   load_default=["NH", "HN"])


def _national_code(value: str) -> None:
    try:
        legal_status.normalise(value)
    except InvalidData:
        raise ValidationError(f"{value!r} is not an England legal status code") from None


class LegalStatusSchema(Schema):
    zu5 = fields.Boolean(load_default=True)
    segments = fields.List(fields.Nested(SegmentSchema), load_default=lambda: [ZMH])
    obx = fields.List(fields.Nested(ObxSchema), load_default=list)
    codes = fields.Dict(keys=fields.String(validate=validate.Length(1, 20)),
                        values=fields.String(validate=_national_code), load_default=dict)
    events = fields.Dict(keys=fields.String(validate=validate.Length(1, 40)),
                         values=fields.String(validate=validate.OneOf(EVENTS)),
                         load_default=dict)


class ProfileSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(load_default="")
    senders = fields.List(fields.String(validate=validate.Regexp(
        _ODS, error="{input!r} is not an ODS code (MSH-4)")), required=True,
        validate=validate.Length(min=1))
    nhs_number = fields.Nested(NhsNumberSchema, load_default=dict)
    stay_id = FieldRefField(load_default=FieldRef("PV1", 19))
    processing_ids = fields.List(fields.String(validate=validate.OneOf(["P", "T", "D"])),
                                 load_default=["P"], validate=validate.Length(min=1))
    legal_status = fields.Nested(LegalStatusSchema, load_default=dict)

    @post_load
    def make(self, data: dict[str, Any], **_: Any) -> Profile:
        nhs = data["nhs_number"] or NhsNumberSchema().load({})
        status = data["legal_status"] or LegalStatusSchema().load({})
        return Profile(
            name=data["name"], senders=tuple(data["senders"]), description=data["description"],
            assigning_authorities=tuple(a.upper() for a in nhs["assigning_authorities"]),
            identifier_types=tuple(t.upper() for t in nhs["identifier_types"]),
            stay_id=data["stay_id"], processing_ids=tuple(data["processing_ids"]),
            zu5=status["zu5"], segments=tuple(status["segments"]), obx=tuple(status["obx"]),
            codes={str(k).strip(): legal_status.normalise(v)
                   for k, v in status["codes"].items()},
            events={str(k).strip().upper(): v for k, v in status["events"].items()})


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    if isinstance(messages, dict):
        return [line for key, value in messages.items()
                for line in _flatten(value, f"{prefix}.{key}" if prefix else str(key))]
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{prefix or '(file)'}: {m}" for m in messages]
    return [f"{prefix or '(file)'}: {messages}"]


def parse(data: Any, source: str = "profile") -> Profile:
    """A profile from its YAML data; InvalidData lists every problem with its key path."""
    if not isinstance(data, dict):
        raise InvalidData(f"{source}: a profile is a YAML mapping of keys", field=source)
    try:
        return ProfileSchema().load(data)
    except ValidationError as exc:
        raise InvalidData(f"{source}: " + "; ".join(_flatten(exc.messages)),
                          field=source) from None
