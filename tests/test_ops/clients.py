"""Client processes of the process-model test. Imports httpx alone, so a spawned client starts
in a fraction of a second instead of loading Django and the test modules."""

from __future__ import annotations

import random

import httpx


def race(job: tuple[str, str, list[str], list[str], int]) -> list[tuple[str, str, int]]:
    """One client process: approve every request and reactivate every membership, shuffled."""
    base, token, request_ids, membership_paths, seed = job
    order = [("approve", r) for r in request_ids] + [("reactivate", p) for p in membership_paths]
    random.Random(seed).shuffle(order)
    answers = []
    with httpx.Client(
        base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        for kind, key in order:
            if kind == "approve":
                path = f"/reactivation-requests/{key}/approve"
            else:
                path = f"{key}/reactivate"
            answers.append((kind, key, client.post(path).status_code))
    return answers
