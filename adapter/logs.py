"""Logs of the long-running processes (`serve`, `mllp`, `worker`, `relay`, `scheduler`): one
JSON object per line on standard error, with the request id when there is one, for a log
shipper to index. What is logged never carries patient identifiers: messages name labels,
codes and row ids (tests/e2e/test_security.py reads a whole run's logs for NHS numbers)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else was passed in `extra` and is logged as is.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "process": self.process,
            "logger": record.name, "message": record.getMessage()}
        out.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(process: str) -> None:
    """JSON lines for this process; pika's chatter only from warnings up."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(process))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.getLogger("pika").setLevel(logging.WARNING)
