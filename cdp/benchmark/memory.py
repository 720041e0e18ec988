"""Peak resident memory of this process and its children, sampled from /proc."""

from __future__ import annotations

import os
import resource
import threading
from pathlib import Path


def _rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it has already exited)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError, ValueError):
        pass
    return 0


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (children of all its threads, recursively)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except (FileNotFoundError, PermissionError):
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text().split()
            except (FileNotFoundError, PermissionError):
                continue
            for child in map(int, children):
                found.append(child)
                pending.append(child)
    return found


def tree_rss_mib(pid: int | None = None) -> float:
    """Current resident memory of ``pid`` (default: this process) plus all its descendants, in MiB."""
    pid = os.getpid() if pid is None else pid
    return sum(_rss_kib(p) for p in (pid, *descendants(pid))) / 1024


def rusage_peaks_mib() -> dict[str, float]:
    """Kernel-recorded peak RSS of this process and of its largest waited-for child, in MiB."""
    # Linux reports ru_maxrss in KiB; RUSAGE_CHILDREN is the largest single child, not a sum, and a
    # forked child starts its count at the parent's size, so it is an upper bound for a subprocess.
    return {
        "ru_maxrss_self_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "ru_maxrss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


class PeakMemorySampler:
    """A daemon thread sampling the process tree's RSS; ``window()`` gives a per-stage peak.

    Sampling misses spikes shorter than ``interval`` seconds, so the figure is a lower bound;
    ``rusage_peaks_mib`` gives the kernel's exact (but whole-process) peak next to it.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._window_peak = 0.0
        self.overall_peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-memory-sampler", daemon=True)

    def __enter__(self) -> PeakMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        current = tree_rss_mib()
        with self._lock:
            self._window_peak = max(self._window_peak, current)
            self.overall_peak = max(self.overall_peak, current)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def start_window(self) -> None:
        """Begin a new measurement window (e.g. a stage) at the current RSS."""
        current = tree_rss_mib()
        with self._lock:
            self._window_peak = current
            self.overall_peak = max(self.overall_peak, current)

    def window_peak(self) -> float:
        """Peak RSS in MiB since the last ``start_window``, including a final sample now.

        Unrounded, so it never exceeds ``overall_peak``; round when reporting.
        """
        self._sample()
        with self._lock:
            return self._window_peak
