"""The console's Preview and the API's dry run show the same change as the real one made right
after, and neither sends the provider anything."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationRole,
    Outcome,
)
from tests.fixtures.app_provider import membership_in
from tests.fixtures.audit import assert_audited
from tests.test_api.conftest import ApiClient, make_token

pytestmark = pytest.mark.django_db(transaction=True)

HX = {"HX-Request": "true"}


def shown_preview(response, pk: int) -> dict:
    """The preview the page shows, from its JSON twin beside the table."""
    html = response.content.decode()
    found = re.search(
        rf'<section class="preview" id="preview-{pk}".*?<script type="application/json">(.*?)'
        "</script>",
        html,
        re.DOTALL,
    )
    assert found, html
    return json.loads(found.group(1))


def test_api_and_console_previews_match_the_reactivation_made_after(
    mirrored, manager, client, workos_emulator
):
    target = membership_in(MirrorStatus.INACTIVE)
    api = ApiClient(make_token(manager))
    client.force_login(manager)
    path = f"/orgs/{target.organization.external_id}/users/{target.user.external_id}/reactivate"
    url = reverse("console:membership-reactivate", args=[target.pk])
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()

    from_api = api.post(f"{path}?dryRun=true").json()
    page = client.post(url, {"reason": "Renewed", "preview": "1"}, headers=HX)
    assert page.status_code == 200, page.content
    from_console = shown_preview(page, target.pk)
    html = page.content.decode()
    assert "Confirm: reactivate" in html
    assert f"workos.reactivate_membership({target.external_id})" in html

    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events
    target.refresh_from_db()
    assert target.status == MirrorStatus.INACTIVE
    for key in ("event_type", "before", "after", "supported"):
        assert from_console[key] == from_api[{"event_type": "eventType"}.get(key, key)]
    assert from_console["provider_call"] == from_api["providerCall"]
    assert from_console["approval_needed"] is from_api["approvalNeeded"] is False

    confirmed = client.post(url, {"reason": "Renewed"}, headers=HX)
    assert confirmed.status_code == 200
    assert workos_emulator.app.request_log, "the confirmed change reaches the provider"
    outcome = assert_audited("membership.reactivated", target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.before == from_console["before"] == from_api["before"]
    assert {**outcome.after, "raw_status": None} == from_console["after"]


def test_console_role_preview_matches_the_roles_saved_after(
    mirrored, manager, client, workos_emulator
):
    target = membership_in(MirrorStatus.ACTIVE)
    slugs = list(
        OrganizationRole.objects.filter(organization=target.organization).values_list(
            "slug", flat=True
        )
    ) or list(OrganizationRole.objects.filter(organization=None).values_list("slug", flat=True))
    wanted = sorted(set(slugs) - set(target.role_slugs))[:1] or slugs[:1]
    client.force_login(manager)
    url = reverse("console:membership-roles", args=[target.pk])
    events = AuditEvent.objects.count()
    workos_emulator.app.request_log.clear()
    page = client.post(url, {"roles": wanted, "preview": "1"}, headers=HX)
    assert page.status_code == 200, page.content
    shown = shown_preview(page, target.pk)
    assert list(workos_emulator.app.request_log) == []
    assert AuditEvent.objects.count() == events
    assert "Confirm: save roles" in page.content.decode()

    client.post(url, {"roles": wanted}, headers=HX)
    outcome = assert_audited("membership.roles_set", target=target, outcome=Outcome.SUCCEEDED)
    assert outcome.before == shown["before"]
    assert shown["after"]["raw_status"] is None  # the provider's own word, known once it answers
    assert {**outcome.after, "raw_status": None} == shown["after"]
