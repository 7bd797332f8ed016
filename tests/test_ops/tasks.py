"""Tasks the process-model tests enqueue: each run leaves a line in a file named by the caller."""

from __future__ import annotations

import os
import time

from django.tasks import task


@task
def note(path: str, n: int, seconds: float = 0.0) -> int:
    """Write 'start n pid', wait, write 'done n pid'."""
    with open(path, "a") as out:
        out.write(f"start {n} {os.getpid()}\n")
    time.sleep(seconds)
    with open(path, "a") as out:
        out.write(f"done {n} {os.getpid()}\n")
    return n
