"""Bulk load (`s117 import hl7v2` / `s117 import fhir`): migrating an existing register or
replaying years of a trust's feed from a file, through the same decoders, mappings, rules and
quarantine as the live feed, many messages per transaction.

The file is read in order and applied in units of `unit` messages, each unit one transaction
(`Processor.process_all`: a refused message is quarantined and the others stay, in order).
After each unit commits, the number of messages done is written to a checkpoint file beside
the input (`FILE.s117-import`, with the file's SHA-256), so an interrupted import resumes
where it stopped. A crash between a commit and its checkpoint replays at most one unit, whose
commands the inbox recognises as duplicates: each message is applied once either way."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from queues.inbound.envelope import Envelope
from queues.inbound.processor import Processor

BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")


def hl7v2_messages(data: bytes) -> Iterator[bytes]:
    """The messages of an HL7 v2 batch file (FHS/BHS ... BTS/FTS, chapter 2.10.3) or of a
    plain file of messages: segments end with CR, LF or CRLF; each message starts at MSH; the
    file and batch header and trailer segments are dropped (they carry no patient event)."""
    message: list[bytes] = []
    for segment in data.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r"):
        segment = segment.strip(b"\x0b\x1c \t")  # stray MLLP framing or indentation
        if not segment or segment[:3] in BATCH_SEGMENTS:
            continue
        if segment.startswith(b"MSH") and message:
            yield b"\r".join(message) + b"\r"
            message = []
        message.append(segment)
    if message:
        yield b"\r".join(message) + b"\r"


def ndjson_messages(data: bytes) -> Iterator[bytes]:
    """One FHIR message Bundle per line (FHIR bulk data's NDJSON); blank lines skipped."""
    for line in data.splitlines():
        if line.strip():
            yield line


@dataclass
class ImportReport:
    total: int
    resumed_from: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    quarantined: list[tuple[int, str]] = field(default_factory=list)  # (message no., kind)
    seconds: float = 0.0

    @property
    def messages_per_second(self) -> float:
        done = self.total - self.resumed_from
        return done / self.seconds if self.seconds else 0.0


def checkpoint_path(file: Path) -> Path:
    return file.with_name(file.name + ".s117-import")


def _resume_point(checkpoint: Path, digest: str) -> int:
    try:
        saved = json.loads(checkpoint.read_text())
    except (OSError, ValueError):
        return 0
    return int(saved.get("done", 0)) if saved.get("sha256") == digest else 0


def run(processor: Processor, file: Path, channel: str, sender: str, *, unit: int = 500,
        restart: bool = False, progress: Callable[[int, int], None] | None = None
        ) -> ImportReport:
    """Apply every message of `file` (channel "hl7v2" or "fhir") in units of `unit`."""
    data = file.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    split = hl7v2_messages if channel == "hl7v2" else ndjson_messages
    messages = list(split(data))
    checkpoint = checkpoint_path(file)
    start = 0 if restart else min(_resume_point(checkpoint, digest), len(messages))
    report = ImportReport(len(messages), resumed_from=start)
    began = time.perf_counter()
    routing = f"{channel}.{sender}"
    for first in range(start, len(messages), unit):
        chunk = messages[first:first + unit]
        # Until decoded, a message is known by the file and its place in it (no identifier).
        envelopes = [Envelope(routing, body, 0, f"import:{digest[:16]}:{first + i + 1}")
                     for i, body in enumerate(chunk)]
        for i, result in enumerate(processor.process_all(envelopes)):
            report.statuses[result.status] += 1
            if result.status == "quarantined":
                report.quarantined.append((first + i + 1, result.kind))
        done = first + len(chunk)
        checkpoint.write_text(json.dumps({"sha256": digest, "done": done}))
        if progress is not None:
            progress(done, len(messages))
    report.seconds = time.perf_counter() - began
    checkpoint.unlink(missing_ok=True)  # finished: a later run of the same file starts over
    return report
