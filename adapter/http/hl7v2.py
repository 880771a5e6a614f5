"""`POST /hl7v2`: one HL7 v2 message (ER7) per request, the original-mode ACK as the answer,
with the same checks, durability and ACK rules as the MLLP listener (adapter/intake/hl7v2.py).

HTTP status, as HAPI's HL7-over-HTTP: 200 whenever an ACK (AA, AE or AR) answers an HL7
message; 400 when the body is not an HL7 v2 message at all; 413 when it is larger than
S117_MLLP_MAX_BYTES (its head is quarantined); 503 when it could not be stored (send it
again). The ACK is in the body in every case."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from adapter.http import intake, policy
from adapter.intake.hl7v2 import HEAD_BYTES

blueprint = Blueprint("hl7v2", __name__)
ER7 = "x-application/hl7-v2+er7; charset=utf-8"
DRAIN_LIMIT = 512 * 1024 * 1024  # read (and drop) at most this much of an oversized body


def _read(limit: int) -> tuple[bytes, int]:
    """Up to `limit` + 1 bytes of the body and its whole size, read from the WSGI stream
    directly (not through Flask's whole-app body limit, so an oversized message is answered
    with an ACK too, and drained so the client can read it)."""
    stream = request.environ["wsgi.input"]
    length = request.content_length
    want = limit + 1 if length is None else min(length, limit + 1)
    chunks, got = [], 0
    while got < want:
        chunk = stream.read(min(1 << 16, want - got))
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    body = b"".join(chunks)
    size = len(body)
    if size > limit:
        while size < DRAIN_LIMIT:
            chunk = stream.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
        size = max(size, length or 0)
    return body, size


@blueprint.post("/hl7v2")
def receive() -> Response:
    hl7 = intake().hl7v2
    body, size = _read(hl7.max_bytes)
    if size > hl7.max_bytes:
        answer = hl7.too_large(body[:HEAD_BYTES], size)
        status = 413
    else:
        answer = hl7.receive(body, may_send=policy.may_send_for,
                             sent_by=policy.viewer().org)
        status = 200 if answer.readable else 400
    if answer.problem is not None and answer.problem.kind == "unavailable":
        status = 503
    return Response(answer.ack, status, content_type=ER7)


def install(app: Flask) -> None:
    app.register_blueprint(blueprint)
