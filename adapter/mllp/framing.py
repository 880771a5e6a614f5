"""MLLP framing as a byte-stream state machine (no I/O, so it is tested on its own).

A frame is <VT 0x0B> message <FS 0x1C><CR 0x0D>. The PyPI `hl7` package's asyncio reader
(`hl7.mllp`) reads up to each <FS><CR> and raises on anything else, losing a good frame that
follows stray bytes and leaving an oversized message half-read; a listener that must answer
every bad input and keep the connection usable needs to know more, so:

- bytes outside a frame are collected (their head kept) and reported as `Stray` when the next
  frame starts or the sender pauses;
- a frame larger than the limit is read to its end without being kept (its head is) and
  reported as `TooLarge`;
- a <VT> inside a frame ends the broken frame (`Broken`) and starts a new one;
- an <FS> not followed by <CR> is taken as the end of the frame (some senders omit the CR).
"""

from __future__ import annotations

from dataclasses import dataclass

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
HEAD = 64 * 1024


@dataclass(frozen=True)
class Frame:
    body: bytes


@dataclass(frozen=True)
class TooLarge:
    head: bytes
    size: int


@dataclass(frozen=True)
class Stray:
    head: bytes
    size: int


@dataclass(frozen=True)
class Broken:
    head: bytes
    size: int


Event = Frame | TooLarge | Stray | Broken


class Framer:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._inside = False
        self._after_end = False  # saw <FS>, waiting for <CR>
        self._frame = bytearray()
        self._size = 0
        self._stray = bytearray()
        self._stray_size = 0

    @property
    def waiting(self) -> bool:
        """True when a pause should flush something (stray bytes, an end without CR)."""
        return self._after_end or bool(self._stray.strip())

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        i, n = 0, len(data)
        while i < n:
            if self._after_end:
                if data[i:i + 1] == CR:
                    i += 1
                events.append(self._end_frame())
            elif not self._inside:
                start = data.find(SB, i)
                self._add_stray(data[i:] if start == -1 else data[i:start])
                if start == -1:
                    break
                events += self._flush_stray()
                self._inside, self._frame, self._size = True, bytearray(), 0
                i = start + 1
            else:
                end = data.find(EB, i)
                stop = n if end == -1 else end
                restart = data.find(SB, i, stop)
                if restart != -1:
                    self._add(data[i:restart])
                    events.append(Broken(bytes(self._frame[:HEAD]), self._size))
                    self._frame, self._size = bytearray(), 0
                    i = restart + 1
                    continue
                self._add(data[i:stop])
                if end == -1:
                    break
                self._after_end = True
                i = end + 1
        return events

    def idle(self) -> list[Event]:
        """The sender paused: report what cannot wait for more bytes."""
        events: list[Event] = []
        if self._after_end:
            events.append(self._end_frame())
        return events + self._flush_stray()

    def _add(self, chunk: bytes) -> None:
        room = self.max_bytes - len(self._frame)
        if room > 0:
            self._frame += chunk[:room]
        self._size += len(chunk)

    def _end_frame(self) -> Event:
        self._after_end = self._inside = False
        body, size = bytes(self._frame), self._size
        self._frame, self._size = bytearray(), 0
        if size > self.max_bytes:
            return TooLarge(body[:HEAD], size)
        return Frame(body)

    def _add_stray(self, chunk: bytes) -> None:
        if len(self._stray) < HEAD:
            self._stray += chunk[:HEAD - len(self._stray)]
        self._stray_size += len(chunk)

    def _flush_stray(self) -> list[Event]:
        head, size = bytes(self._stray), self._stray_size
        self._stray, self._stray_size = bytearray(), 0
        # Line ends and spaces between frames are common and harmless.
        return [Stray(head, size)] if head.strip() else []
