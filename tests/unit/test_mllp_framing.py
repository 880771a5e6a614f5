"""MLLP framing (issue 4, Build 2 and "Bad input"): frames split anywhere, stray bytes, a
frame too large, a broken frame; each is reported so it can be answered, and the frames
around it still arrive."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from adapter.mllp.framing import HEAD, Broken, Frame, Framer, Stray, TooLarge

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def feed_all(framer: Framer, *chunks: bytes) -> list:
    events = []
    for chunk in chunks:
        events += framer.feed(chunk)
    return events + framer.idle()


def test_two_frames_in_one_read_and_whitespace_between() -> None:
    data = SB + b"MSH|1" + EB + CR + b"\r\n" + SB + b"MSH|2" + EB + CR
    assert feed_all(Framer(100), data) == [Frame(b"MSH|1"), Frame(b"MSH|2")]


@given(st.lists(st.binary(min_size=1, max_size=40).filter(
    lambda b: not set(b) & {0x0B, 0x1C}), min_size=1, max_size=5), st.data())
def test_frames_survive_any_split_of_the_stream(bodies: list[bytes], data) -> None:  # type: ignore[no-untyped-def]
    stream = b"".join(SB + b + EB + CR for b in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    assert feed_all(Framer(1000), *chunks) == [Frame(b) for b in bodies]


def test_stray_bytes_are_reported_before_the_next_frame() -> None:
    framer = Framer(100)
    events = framer.feed(b"GARBAGE" + SB + b"MSH|ok" + EB + CR)
    assert events == [Stray(b"GARBAGE", 7), Frame(b"MSH|ok")]


def test_stray_bytes_alone_are_reported_when_the_sender_pauses() -> None:
    framer = Framer(100)
    assert framer.feed(b"MSH|no frame at all\r") == []
    assert framer.waiting
    assert framer.idle() == [Stray(b"MSH|no frame at all\r", 20)]
    assert not framer.waiting


def test_a_frame_over_the_limit_is_read_to_its_end_and_only_its_head_kept() -> None:
    framer = Framer(1000)
    big = b"MSH|" + b"x" * (HEAD * 3)
    events = feed_all(framer, SB + big[:50_000], big[50_000:] + EB + CR,
                      SB + b"MSH|next" + EB + CR)
    assert events == [TooLarge(big[:HEAD][:1000], len(big)), Frame(b"MSH|next")]


def test_a_new_start_block_inside_a_frame_breaks_it() -> None:
    events = feed_all(Framer(100), SB + b"MSH|half" + SB + b"MSH|whole" + EB + CR)
    assert events == [Broken(b"MSH|half", 8), Frame(b"MSH|whole")]


def test_an_end_block_without_cr_still_ends_the_frame() -> None:
    framer = Framer(100)
    assert framer.feed(SB + b"MSH|a" + EB) == []
    assert framer.idle() == [Frame(b"MSH|a")]
    assert feed_all(Framer(100), SB + b"MSH|a" + EB + SB + b"MSH|b" + EB + CR) == [
        Frame(b"MSH|a"), Frame(b"MSH|b")]
