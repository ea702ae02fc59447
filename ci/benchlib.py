"""Small helpers shared by the benchmark scripts in ci/ (imported as `benchlib`)."""

import platform
import statistics
from pathlib import Path


def median(xs):
    """The median of a non-empty sequence of numbers."""
    return statistics.median(xs)


def cpu_model() -> str:
    """The CPU model as /proc/cpuinfo names it (else what platform knows)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
