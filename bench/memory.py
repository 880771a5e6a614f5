"""Peak memory of the processes a benchmark runs: the kernel's high-water mark of resident
memory (`VmHWM` in /proc/<pid>/status), of a process or the largest of it and its children
(gunicorn's workers), read just before the benchmark stops them."""

from __future__ import annotations

from pathlib import Path


def _hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def peak_mb(pid: int) -> float:
    """The largest peak resident set of this process and its descendants, in MB."""
    pending, peak = [pid], 0
    while pending:
        current = pending.pop()
        peak = max(peak, _hwm_kb(current))
        pending += _children(current)
    return round(peak / 1024, 1)
