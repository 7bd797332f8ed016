"""The capability matrix, rendered from the adapters' own `capabilities` so docs cannot drift."""

from __future__ import annotations

import re

from providers.base import Capability, Provider
from providers.stytch import StytchProvider
from providers.workos import WorkOSProvider
from providers.zitadel import ZitadelProvider

START = "<!-- capability-matrix:start -->"
END = "<!-- capability-matrix:end -->"


def _adapters() -> list[tuple[str, Provider]]:
    # Placeholder credentials: building an adapter makes no network call.
    return [
        ("WorkOS", WorkOSProvider(api_key="sk_matrix")),
        ("Stytch B2B", StytchProvider(project_id="project-matrix", secret="secret-matrix")),
        (
            "ZITADEL (with `ZITADEL_PROJECT_ID`)",
            ZitadelProvider(base_url="https://matrix.invalid", token="t", project_id="1"),
        ),
    ]


def render_matrix() -> str:
    """A Markdown table: one row per capability, one column per provider, reasons as notes."""
    adapters = _adapters()
    notes: list[str] = []
    header = "| operation | " + " | ".join(name for name, _ in adapters) + " |"
    lines = [header, "|---" * (len(adapters) + 1) + "|"]
    for capability in Capability:
        cells = []
        for name, adapter in adapters:
            if capability in adapter.capabilities:
                cells.append("yes")
                continue
            notes.append(f"{name}, {capability.value}: {adapter.unsupported_reasons[capability]}")
            cells.append(f"no [{len(notes)}]")
        lines.append(f"| `{capability.value}` | " + " | ".join(cells) + " |")
    for _, adapter in adapters:
        adapter.close()
    lines.append("")
    lines.extend(f"{i}. {note}" for i, note in enumerate(notes, start=1))
    return "\n".join(lines)


def replace_matrix(document: str) -> str:
    """`document` with the text between the matrix markers replaced by a fresh matrix."""
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    return pattern.sub(lambda _: f"{START}\n{render_matrix()}\n{END}", document)
