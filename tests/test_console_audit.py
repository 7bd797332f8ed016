"""The audit log pages: filters, keyset pages, detail, streamed exports and verification."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.core.cache import cache
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from accounts.audit import LAST_VERIFICATION_KEY, record_event
from accounts.models import AuditEvent, Outcome
from accounts.views.audit import escape_cell
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(manager):
    """Events about two people, one with a formula-looking reason."""
    first = MembershipFactory(user__email="ann.one@acme.example")
    second = MembershipFactory(user__email="bob.two@acme.example")
    record_event(
        event_type="request.created",
        outcome=Outcome.REQUESTED,
        actor=manager,
        target=first,
        reason='=HYPERLINK("http://evil.example")',
        before={"status": "inactive"},
        after={"status": "inactive", "request": 1},
    )
    record_event(
        event_type="membership.reactivated",
        outcome=Outcome.SUCCEEDED,
        actor=manager,
        target=first,
        before={"status": "inactive"},
        after={"status": "active"},
    )
    record_event(event_type="membership.deactivated", outcome=Outcome.FAILED, target=second)
    return {"first": first, "second": second}


def results(client, params) -> str:
    """Only the results fragment, as htmx asks for it."""
    response = client.get(reverse("console:audit"), params, headers={"HX-Request": "true"})
    assert response.status_code == HTTPStatus.OK
    return response.content.decode()


def rows(response) -> list[dict[str, str]]:
    content = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(content)))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd", "'+cmd"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("\uff1d1+2", "'\uff1d1+2"),  # full-width equals
        ("\uff0bcmd", "'\uff0bcmd"),  # full-width plus
        ("\uff0d2", "'\uff0d2"),  # full-width hyphen-minus
        ("\uff20SUM(A1)", "'\uff20SUM(A1)"),  # full-width commercial at
        ("\ufe66cmd", "'\ufe66cmd"),  # small equals sign
        ("\u2060=1+2", "'\u2060=1+2"),  # word joiner first
        ("\u200b\ufeff=1", "'\u200b\ufeff=1"),  # zero-width space and BOM first
        ("  =1", "'  =1"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("\uff21bc", "\uff21bc"),  # full-width letter: normalised, still not a formula
        (None, ""),
        ({"a": 1}, '{"a":1}'),
    ],
)
def test_csv_cells_are_escaped_against_formulas(value, expected):
    assert escape_cell(value) == expected


def test_auditor_filters_by_person_email_and_outcome(client, auditor, events):
    client.force_login(auditor)
    body = results(client, {"person": "ANN.one@acme.example"})
    assert "request.created" in body
    assert "membership.reactivated" in body
    assert "membership.deactivated" not in body
    body = results(client, {"outcome": "failed"})
    assert "membership.deactivated" in body
    assert "membership.reactivated" not in body
    external = events["second"].organization.external_id
    body = results(client, {"organization": external})
    assert "membership.deactivated" in body
    assert "request.created" not in body
    body = results(client, {"action": "membership.*", "actor": "max.manager"})
    assert "membership.reactivated" in body
    assert "request.created" not in body
    assert "membership.deactivated" not in body
    body = results(client, {"action": "request.created"})
    assert "request.created" in body
    assert "membership.reactivated" not in body


def test_date_range_filter_and_bad_input_never_fail(client, auditor, events):
    client.force_login(auditor)
    url = reverse("console:audit")
    today = timezone.localdate()
    body = results(client, {"since": today.isoformat(), "until": today.isoformat()})
    assert "membership.reactivated" in body
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert "membership.reactivated" not in results(client, {"since": tomorrow})
    for bad, says in [
        ({"since": "yesterday"}, "Enter a valid date"),
        ({"outcome": "nope"}, "Select a valid choice"),
        ({"since": tomorrow, "until": today.isoformat()}, "is after"),
    ]:
        response = client.get(url, bad)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert says in response.text
        assert 'data-label="When"' not in response.text  # no rows, only the error
        export = client.get(reverse("console:audit-export-csv"), bad)
        assert export.status_code == HTTPStatus.BAD_REQUEST
    for bad in [
        {"before": "abc"},
        {"before": "\u00b2"},
        {"before": "9" * 40},
    ]:
        assert client.get(url, bad).status_code == HTTPStatus.OK


def test_keyset_pagination_walks_every_event_once(client, auditor, manager):
    for n in range(120):
        record_event(event_type=f"test.event{n}", outcome=Outcome.RECORDED, actor=manager)
    client.force_login(auditor)
    seen = []
    url = reverse("console:audit") + "?action=test.*"
    while url:
        response = client.get(url, headers={"HX-Request": "true"})
        page = response.context["page"]
        seen.extend(event.sequence for event in page.events)
        url = (
            reverse("console:audit") + "?" + response.context["next_query"]
            if page.next_cursor
            else None
        )
    assert len(seen) == 120
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 120


def test_audit_results_fragment_under_htmx(client, auditor, events):
    client.force_login(auditor)
    response = client.get(reverse("console:audit"), headers={"HX-Request": "true"})
    assert response.content.decode().lstrip().startswith('<section id="results"')


def test_event_detail_shows_before_and_after_side_by_side(client, auditor, events):
    client.force_login(auditor)
    event = AuditEvent.objects.get(event_type="membership.reactivated")
    body = client.get(reverse("console:audit-event", args=[event.sequence])).content.decode()
    assert 'class="side-by-side"' in body
    assert "&quot;status&quot;: &quot;inactive&quot;" in body
    assert "&quot;status&quot;: &quot;active&quot;" in body
    assert client.get(reverse("console:audit-event", args=[99999])).status_code == 404


def test_csv_export_is_streamed_filtered_and_escaped(client, auditor, events):
    client.force_login(auditor)
    response = client.get(reverse("console:audit-export-csv"), {"person": "ann.one@acme.example"})
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    found = rows(response)
    assert [r["event_type"] for r in found] == ["membership.reactivated", "request.created"]
    assert found[1]["reason"] == '\'=HYPERLINK("http://evil.example")'
    assert json.loads(found[0]["after"]) == {"status": "active"}


def test_jsonl_export_has_one_object_per_event(client, manager, events):
    client.force_login(manager)
    response = client.get(reverse("console:audit-export-jsonl"))
    assert isinstance(response, StreamingHttpResponse)
    lines = b"".join(response.streaming_content).decode().splitlines()
    objects = [json.loads(line) for line in lines]
    assert len(objects) == AuditEvent.objects.count()
    # Besides the fixture's three events: the manager's account creation and sign-in.
    fixture_events = [o for o in objects if not o["event_type"].startswith("staff.")]
    assert len(fixture_events) == 3
    assert fixture_events[0]["event_type"] == "membership.deactivated"
    assert fixture_events[-1]["reason"].startswith("=HYPERLINK")
    assert objects[0]["event_type"] == "staff.signed_in"


def test_export_streams_with_a_fixed_number_of_queries(
    client, auditor, django_assert_max_num_queries
):
    for n in range(30):
        record_event(event_type=f"bulk.{n}", outcome=Outcome.RECORDED)
    client.force_login(auditor)
    total = AuditEvent.objects.count()
    assert total > 30  # the auditor's account and sign-in events are exported too
    response = client.get(reverse("console:audit-export-csv"))
    with django_assert_max_num_queries(3):
        assert len(rows(response)) == total


def test_auditor_verifies_the_chain_and_everyone_sees_the_result(client, auditor, manager, events):
    client.force_login(manager)
    assert b"Verify now" not in client.get(reverse("console:audit")).content
    assert client.post(reverse("console:audit-verify")).status_code == HTTPStatus.FORBIDDEN
    assert AuditEvent.objects.filter(event_type="audit.verified", outcome=Outcome.DENIED).exists()
    client.force_login(auditor)
    response = client.post(reverse("console:audit-verify"), headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="verification"')
    assert "verified" in body
    assert cache.get(LAST_VERIFICATION_KEY)["ok"] is True
    client.force_login(manager)
    assert b"checked" in client.get(reverse("console:audit")).content


def test_help_desk_cannot_read_or_export_the_log(client, help_desk, events):
    client.force_login(help_desk)
    for name in ["console:audit", "console:audit-export-csv", "console:audit-export-jsonl"]:
        assert client.get(reverse(name)).status_code == HTTPStatus.FORBIDDEN
