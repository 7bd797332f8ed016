"""Saved filters: per staff user, cleaned to the page's filters, audited."""

from __future__ import annotations

import pytest

from accounts import saved_filters
from accounts.errors import ErrorCode, KarmoError
from accounts.models import AuditEvent, SavedFilter

pytestmark = pytest.mark.django_db


def test_saving_keeps_only_the_pages_filters_and_overwrites_by_name(auditor):
    saved = saved_filters.save(
        actor=auditor,
        page="audit",
        name=" Requests  today ",
        query="?action=request.*&before=99&x=1&actor=",
    )
    assert (saved.name, saved.query) == ("Requests today", "action=request.%2A")
    assert saved_filters.page_url(saved) == "/audit/?action=request.%2A"
    again = saved_filters.save(
        actor=auditor, page="audit", name="Requests today", query="outcome=denied"
    )
    assert again.pk == saved.pk
    assert SavedFilter.objects.get().query == "outcome=denied"
    events = list(AuditEvent.objects.filter(event_type="filter.saved").order_by("sequence"))
    assert [e.after["query"] for e in events] == ["action=request.%2A", "outcome=denied"]
    assert events[1].before == {"query": "action=request.%2A"}
    assert events[1].actor_repr == auditor.get_username()


def test_a_name_is_required_and_pages_are_known(auditor):
    with pytest.raises(KarmoError) as error:
        saved_filters.save(actor=auditor, page="audit", name="  ", query="")
    assert error.value.code is ErrorCode.VALIDATION_FAILED
    with pytest.raises(KarmoError):
        saved_filters.save(actor=auditor, page="admin", name="x", query="")


def test_each_user_sees_and_deletes_only_their_own(client, auditor, help_desk):
    mine = saved_filters.save(actor=auditor, page="find", name="Acme", query="q=acme")
    client.force_login(help_desk)
    response = client.get("/find/")
    assert "Acme" not in response.content.decode().split("Saved filters:")[1].split("</div>")[0]
    response = client.post(
        f"/filters/{mine.pk}/delete/", {"page": "find"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 404
    assert SavedFilter.objects.filter(pk=mine.pk).exists()
    client.force_login(auditor)
    page = client.get("/find/").content.decode()
    assert 'href="/find/?q=acme">Acme</a>' in page
    response = client.post(
        f"/filters/{mine.pk}/delete/", {"page": "find"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert "Deleted “Acme”." in response.content.decode()
    assert not SavedFilter.objects.exists()
    deleted = AuditEvent.objects.get(event_type="filter.deleted")
    assert deleted.before == {"page": "find", "name": "Acme", "query": "q=acme"}


def test_saving_from_the_page_without_htmx_redirects_to_the_filtered_view(client, auditor):
    client.force_login(auditor)
    response = client.post(
        "/filters/", {"page": "audit", "name": "Denied", "query": "outcome=denied&before=5"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/audit/?outcome=denied"
    assert SavedFilter.objects.get(user=auditor).name == "Denied"


def test_an_unknown_page_is_a_clear_400(client, auditor):
    client.force_login(auditor)
    response = client.post(
        "/filters/", {"page": "admin", "name": "x"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert not SavedFilter.objects.exists()
