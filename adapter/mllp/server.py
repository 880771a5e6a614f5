"""The MLLP listener (asyncio): each connection reads frames (adapter/mllp/framing.py) and
answers each message with its ACK, in order, before reading the next one's answer; checking
and publishing run in a thread pool so one slow message does not hold up other connections.
Bad input (garbage, a broken frame, an oversized message) gets an AR and the connection stays
open; only the peer, or shutdown, closes it.

Each message's audit record goes to the same writer as the HTTP API's (adapter/auth/
audit_writer.py): written within about 50 ms, many to a transaction, never dropped (a full
queue writes in the caller), and flushed at shutdown. Writing it synchronously before each
ACK was about half of the listener's CPU (issue 22): the ACK's "stored" promise is about the
message, which the broker has confirmed; the audit row is no more durable either way (it is
written with synchronous_commit off)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from adapter import logs
from adapter.auth.audit_writer import AuditWriter
from adapter.config import Senders, Settings
from adapter.intake.hl7v2 import Answer, Hl7Intake
from adapter.mllp.framing import CR, EB, SB, Broken, Event, Frame, Framer, Stray, TooLarge
from mappings.hl7v2 import errors as e
from register.errors import InvalidData
from register.store.audit import AuditLog, AuditRecord
from register.store.dialect import utcnow

log = logging.getLogger("s117.mllp")

PAUSE = 1.0  # seconds of silence after which stray bytes are answered


class MllpServer:
    def __init__(self, intake: Hl7Intake, *, host: str, port: int, threads: int = 4,
                 senders: Senders | None = None, audit: AuditLog | None = None) -> None:
        """`senders`: which trusts each client address may send for (None: any, with
        S117_AUTH=off); `audit`: where each message received is recorded."""
        self.intake = intake
        self.senders = senders
        self.audit = AuditWriter(audit) if audit is not None else None
        self.host, self.port = host, port
        self.max_bytes = intake.max_bytes
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="mllp")
        self.connections: set[asyncio.Task[None]] = set()
        self.answered = 0

    def _handle(self, event: Event, peer: str,
                may_send: Callable[[str], bool] | None) -> Answer:
        started = time.perf_counter()
        if isinstance(event, Frame):
            answer = self.intake.receive(event.body, may_send=may_send)
        elif isinstance(event, TooLarge):
            answer = self.intake.too_large(event.head, event.size)
        elif isinstance(event, Stray):
            answer = self.intake.receive(event.head, transport=e.reject(
                e.SEGMENT_SEQUENCE, "stray-bytes",
                f"{event.size:,} bytes arrived outside an MLLP frame: a message must start "
                "with <VT> (0x0B) and end with <FS><CR> (0x1C 0x0D)"), size=event.size)
        else:
            assert isinstance(event, Broken)
            answer = self.intake.receive(event.head, transport=e.reject(
                e.SEGMENT_SEQUENCE, "broken-frame",
                f"a new frame started (<VT>) after {event.size:,} bytes, before this one "
                "ended with <FS><CR>: the partial message was not taken"), size=event.size)
        if answer.code != "AA":
            # Only the label: the reason may quote the message.
            log.info("answered %s (%s) in %.1f ms", answer.code,
                     answer.problem.kind if answer.problem else "", (time.perf_counter() -
                                                                      started) * 1000)
        if self.audit is not None:
            self._audit(answer, peer)
        return answer

    def _senders(self, peer: str) -> Callable[[str], bool] | None:
        """What this connection may send as (S117_MLLP_SENDERS), when access is checked."""
        if self.senders is None:
            return None
        allowed = self.senders.trusts_for(peer)
        return lambda sender: "*" in allowed or sender in allowed

    def _audit(self, answer: Answer, peer: str) -> None:
        try:
            self.audit.submit(AuditRecord(  # type: ignore[union-attr]
                recorded_at=utcnow(), request_id=str(uuid4()), channel="mllp", action="C",
                subtype="hl7v2-message", outcome={"AA": "0", "AE": "4"}.get(answer.code, "4"),
                method="MLLP", path=f"mllp://{self.host}:{self.port}",
                agent_org=answer.sender, agent_type="trust" if answer.sender else None,
                client_address=peer, detail=answer.problem.kind if answer.problem else None,
                entities=((answer.key, "message"),) if answer.key else ()))
        except Exception:
            log.exception("could not write the audit record of an HL7 v2 message")

    async def _answer(self, events: list[Event], writer: asyncio.StreamWriter, peer: str,
                      may_send: Callable[[str], bool] | None) -> None:
        loop = asyncio.get_running_loop()
        for event in events:
            answer = await loop.run_in_executor(self.executor, self._handle, event, peer,
                                                may_send)
            writer.write(SB + answer.ack + EB + CR)
            await writer.drain()
            self.answered += 1

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        framer = Framer(self.max_bytes)
        peer = str((writer.get_extra_info("peername") or ("",))[0])
        # Who this connection may send as, looked up once, not for every message.
        may_send = self._senders(peer)
        try:
            while True:
                try:
                    data = await asyncio.wait_for(reader.read(1 << 16),
                                                  PAUSE if framer.waiting else None)
                except TimeoutError:
                    await self._answer(framer.idle(), writer, peer, may_send)
                    continue
                if not data:
                    # The peer closed its side: answer a last frame that lacked its <CR>.
                    await self._answer(framer.idle(), writer, peer, may_send)
                    break
                await self._answer(framer.feed(data), writer, peer, may_send)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the peer went away; whatever it sent completely has been answered
        finally:
            self.connections.discard(task)
            writer.close()

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        server = await asyncio.start_server(self._connection, self.host, self.port,
                                            limit=1 << 16, reuse_address=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        bound = ", ".join(str(s.getsockname()[:2]) for s in server.sockets)
        log.info("MLLP listening on %s (largest message %s bytes)", bound, self.max_bytes)
        if ready is not None:
            ready()
        async with server:
            await stop.wait()
            server.close()  # no new connections; those open finish the message in hand
            if self.connections:
                await asyncio.wait(self.connections, timeout=10)
        self.executor.shutdown(wait=True)
        self.intake.bus.close()
        if self.audit is not None and not self.audit.flush():
            log.error("some audit records of HL7 v2 messages were not written in time")


def run(settings: Settings, *, host: str, port: int) -> None:
    from adapter.bootstrap import audit_log, intake

    logs.configure("mllp")
    if settings.auth != "off" and settings.mllp_senders is None:
        raise InvalidData("with S117_AUTH=jwt the MLLP listener needs S117_MLLP_SENDERS: which "
                          "trusts each client address may send for (e.g. "
                          "'10.1.0.0/16=RLQ; 127.0.0.1=*')", field="S117_MLLP_SENDERS")
    hl7 = intake(settings, "mllp").hl7v2
    server = MllpServer(hl7, host=host, port=port,
                        threads=4 if settings.amqp_url else 1,
                        senders=settings.mllp_senders if settings.auth != "off" else None,
                        audit=audit_log(settings))
    mode = "networked: RabbitMQ" if settings.amqp_url else "embedded: in-process"
    asyncio.run(server.serve(lambda: print(f"s117 mllp listening on {host}:{port} ({mode})",
                                           flush=True)))
