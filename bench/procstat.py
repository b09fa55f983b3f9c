"""CPU time of processes, from /proc: what a benchmark charges to each part of a stack."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by a process and all its descendants alive now."""
    stats = {int(pid): _stat(pid) for pid in os.listdir("/proc") if pid.isdigit()}
    children: dict[int, list[int]] = {}
    for pid, stat in stats.items():
        if stat is not None:
            children.setdefault(stat[0], []).append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        stat = stats.get(pid)
        total += stat[1] if stat else 0.0
        todo += children.get(pid, [])
    return total


def postgres_cpu() -> float:
    """CPU seconds of every postgres process (the server is shared: other work adds to it)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if Path(f"/proc/{pid}/comm").read_text().strip() == "postgres":
                    stat = _stat(pid)
                    total += stat[1] if stat else 0.0
            except OSError:
                continue
    return total
