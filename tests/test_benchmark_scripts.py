"""The benchmarks reach into adapters: what they use must keep working as the adapters change."""

from __future__ import annotations

import pytest

from benchmarks.sync_realtime import zitadel_minimum
from providers.emulators.zitadel import DEFAULT_TOKEN, PROJECT_ID

pytestmark = pytest.mark.django_db


def test_zitadel_minimum_asks_each_list_for_its_total(zitadel_provider, zitadel_emulator, settings):
    settings.ZITADEL_BASE_URL = zitadel_emulator.url
    settings.ZITADEL_TOKEN = DEFAULT_TOKEN
    settings.ZITADEL_PROJECT_ID = PROJECT_ID
    before = zitadel_emulator.app.request_count

    requests, longest_chain = zitadel_minimum()

    # The demo data's six lists each fit one page of 1,000; one request asked for each total.
    assert (requests, longest_chain) == (6, 4)
    assert zitadel_emulator.app.request_count - before == 6
