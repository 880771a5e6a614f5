"""Peak memory of the processes a benchmark runs: the kernel's high-water mark of resident
memory (`VmHWM` in /proc/<pid>/status), of a process or the largest of it and its children
(gunicorn's workers), read just before the benchmark stops them; and the CPU time a process
has used (on a shared machine, CPU per unit of work varies far less than wall time)."""

from __future__ import annotations

import os
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (/proc/<pid>/stat), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
