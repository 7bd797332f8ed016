"""What the benchmark scripts share: the machine line, other processes' CPU time and writing
their BENCHMARKS.md section."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPUs, system, architecture and Python version, as each result records them."""
    return (
        f"{os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of another process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_section(report: Path, start: str, end: str, section: str) -> None:
    """Replace the report's part between the `start` and `end` markers, or append `section`."""
    text = report.read_text() if report.exists() else "# Benchmarks\n"
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    report.write_text(text)
