"""What every bench shares: interleaved timers (median wall and CPU seconds), the load average, peak memory.

The machine the benches run on is often shared: wall time includes waiting for a core, CPU time does not (it still
includes cache and memory-bandwidth contention). Benches interleave the runs they compare, so that a burst of load
hits both sides alike, and print both medians.
"""
from __future__ import annotations

import os
import statistics
import time
from pathlib import Path


class Timer:
    """Wall-clock and CPU seconds (this process, all threads) of every run it has seen; medians and bests."""

    def __init__(self) -> None:
        self.walls: list[float] = []
        self.cpus: list[float] = []

    def __call__(self, fn, *args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        out = fn(*args, **kwargs)
        self.walls.append(time.perf_counter() - w)
        self.cpus.append(time.process_time() - c)
        return out

    @property
    def wall(self) -> float:
        return statistics.median(self.walls) if self.walls else float("nan")

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus) if self.cpus else float("nan")

    @property
    def best(self) -> float:
        return min(self.walls) if self.walls else float("nan")

    def __str__(self) -> str:
        return f"{self.wall:8.3f} s wall {self.cpu:8.3f} s CPU (median of {len(self.walls)}; best {self.best:.3f} s)"


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the number of cores, for the record next to the figures."""
    try:
        one, five, fifteen = os.getloadavg()
    except (AttributeError, OSError):
        return "load average unknown"
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark of this process (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_mb() -> float:
    """Current and peak resident memory of this process, MB (``VmRSS``, ``VmHWM``); NaN off Linux."""
    return _status("VmRSS:")


def peak_rss_mb() -> float:
    return _status("VmHWM:")


def _status(key: str) -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")
