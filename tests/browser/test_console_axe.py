"""axe-core over every console page at desktop and phone widths, in the light and the dark
theme: no serious or critical violation of WCAG 2.x A/AA (2.2 included: target size),
contrast among them.

The counts of every impact are written to artifacts/axe-counts.json (axe-counts-dark.json
for the dark theme) for the issue note.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from accounts.approvals import reject_request, request_reactivation
from accounts.models import AuditEvent, MirrorStatus, OrganizationMembership
from accounts.selectors import SHOWN_MEMBERSHIPS
from tests.browser.conftest import CHROMIUM_ARGS, DESKTOP, PASSWORD, PHONE, SCREENSHOTS
from tests.factories import MembershipFactory, ProviderUserFactory
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
BLOCKING = {"serious", "critical"}
assert CHROMIUM_ARGS  # the same browser the other browser tests launch


def run_axe(page) -> list[dict]:
    # The page's CSP refuses injected scripts; the axe context bypasses it (tests only).
    page.add_script_tag(path=AXE)
    return page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}}))"
        ".violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " sample: v.nodes[0].target.join(' ')}))",
        TAGS,
    )


def sign_in_axe(
    browser, base: str, username: str | None, viewport: dict[str, int], scheme: str = "light"
):
    context = browser.new_context(viewport=viewport, bypass_csp=True, color_scheme=scheme)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{base}/login/")
    if username:
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/")
    return context, page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_console_page_passes_axe_at_both_widths(browser, sandbox_app, staff, scheme):
    membership = membership_in(MirrorStatus.INACTIVE)
    request_reactivation(actor=staff["helpdesk"], target=membership, reason="Renewed")
    event = AuditEvent.objects.order_by("-sequence").first()
    other = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).exclude(
        pk=membership.pk
    )[0]
    declined = request_reactivation(actor=staff["helpdesk"], target=other, reason="Asked")
    reject_request(actor=staff["manager"], request=declined, comment="Not under contract")
    busy = ProviderUserFactory()
    for n in range(SHOWN_MEMBERSHIPS + 2):  # the filter bar and the collapsed rest
        MembershipFactory(user=busy, inactive=n % 4 == 0)
    pages = {
        None: ["/", "/login/"],
        "manager": [
            "/",
            f"/find/?q={membership.user.email[:5]}",
            f"/people/{membership.user_id}/",
            f"/orgs/{membership.organization_id}/",
            "/approvals/",
            "/approvals/decisions/",
            f"/people/{busy.pk}/",
            "/audit/",
            f"/audit/{event.sequence}/",
            "/sync/",
            "/security/",
            "/reauth/?next=/",
        ],
    }
    counts: Counter[str] = Counter()
    blocking: list[str] = []
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for username, paths in pages.items():
            context, page = sign_in_axe(browser, sandbox_app, username, viewport, scheme)
            for path in paths:
                page.goto(f"{sandbox_app}{path}")
                for violation in run_axe(page):
                    counts[violation["impact"]] += violation["nodes"]
                    if violation["impact"] in BLOCKING:
                        blocking.append(f"{scheme} {label} {path}: {violation}")
            context.close()
    SCREENSHOTS.parent.mkdir(parents=True, exist_ok=True)
    checked = 2 * sum(len(paths) for paths in pages.values())
    name = "axe-counts.json" if scheme == "light" else f"axe-counts-{scheme}.json"
    (SCREENSHOTS.parent / name).write_text(
        json.dumps({"pages_checked": checked, "violations_by_impact": counts}, indent=2)
    )
    assert not blocking, "\n".join(blocking)
