"""Writing the HTTP API's audit records off the request path.

A read used to wait for its own audit transaction, which cost about as much as the read. Here
a request hands its record to a queue and a thread of the same process writes whatever has
queued in one transaction (HAPI FHIR's BALP interceptor offers the same, an asynchronous
sink). The guarantees that stay:

- nothing is dropped: when the queue is full the request writes its own record, so a slow
  database slows requests rather than losing records; a batch that fails is retried until
  the database takes it;
- a record is written within about 50 ms (records that arrive together share one
  transaction), and the `AuditEvent` search first waits for the records its own process
  holds;
- a process that stops in order writes what it holds first (atexit; gunicorn workers exit
  through it). A process killed with SIGKILL loses the few records still queued, as a
  database crash loses the last records under `synchronous_commit = off`.

The MLLP listener uses the same writer for its record of each HL7 v2 message (issue 22: the
synchronous write before each ACK was half of its CPU)."""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time

from register.store.audit import AuditLog, AuditRecord

log = logging.getLogger("s117.audit")


class AuditWriter:
    def __init__(self, audit: AuditLog, *, capacity: int = 10_000, batch: int = 500,
                 gather_seconds: float = 0.05) -> None:
        self.audit = audit
        self.capacity = capacity
        self.batch = batch
        self.gather_seconds = gather_seconds
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._queue: queue.Queue[AuditRecord] = queue.Queue(capacity)

    def submit(self, record: AuditRecord) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.audit.record(record)

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        """Wait until every record this process was given is written; False on timeout."""
        deadline = time.monotonic() + timeout_seconds
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def _ensure_thread(self) -> None:
        # One thread per process: a writer made before a fork starts its own in the child.
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.Queue(self.capacity)
            threading.Thread(target=self._run, name="audit-writer", daemon=True).start()
            atexit.register(self.flush)
            self._pid = os.getpid()

    def _take(self) -> list[AuditRecord]:
        """The next record and whatever follows it within `gather_seconds`: at a few
        hundred reads a second, one transaction per record took a large share of a worker's
        time (issue 22: 42% of its samples), one per 50 ms costs next to nothing."""
        taken = [self._queue.get()]
        deadline = time.monotonic() + self.gather_seconds
        while len(taken) < self.batch:
            remaining = deadline - time.monotonic()
            try:
                taken.append(self._queue.get(timeout=remaining) if remaining > 0
                             else self._queue.get_nowait())
            except queue.Empty:
                break
        return taken

    def _run(self) -> None:
        pause = 0.1
        while True:
            taken = self._take()
            while True:
                try:
                    self.audit.record_many(taken)
                    pause = 0.1
                    break
                except Exception:
                    log.exception("could not write %d audit records; retrying", len(taken))
                    time.sleep(pause)
                    pause = min(pause * 2, 5.0)
            for _ in taken:
                self._queue.task_done()
