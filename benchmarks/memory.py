"""Peak memory of the running process, for benchmarks that measure a step inside one process."""

from __future__ import annotations

import resource
import sys


def proc_status_mb(key: str) -> float | None:
    """A memory figure from /proc/self/status (e.g. VmRSS, VmHWM) in MB; None where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def reset_peak_rss() -> str:
    """Reset the process's RSS high-water mark where Linux allows it; return the method that applies."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return "ru_maxrss"
    return "vmhwm" if proc_status_mb("VmHWM") is not None else "ru_maxrss"


def peak_rss_mb(method: str) -> float:
    """The peak RSS since `reset_peak_rss` (method "vmhwm"), else over the process's whole life."""
    if method == "vmhwm":
        return proc_status_mb("VmHWM") or 0.0
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)
