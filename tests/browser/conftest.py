"""Playwright (sync API) with Debian's chromium, against the app on a loopback live server.

The app uses the sandbox provider (the WorkOS emulator in process, its state in a fresh
directory) and the mirror is filled by a real sync before each test.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import expect

from accounts.sync import run_sync
from tests.conftest import make_staff

# Playwright's sync API runs an event loop in this thread; Django's ORM calls from the
# test body are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# Assertions wait as long as actions (page.set_default_timeout below): on a machine busy with
# the other test workers, a notice after a server round trip can take more than the 5 s default.
expect.set_options(timeout=30_000)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
PASSWORD = "pw-for-tests-1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless chromium for the whole session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("chromium is not installed; run `make browsers`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def one_at_a_time(app: Callable) -> Callable:
    """A WSGI app that answers one request at a time, its body read before the next starts."""
    lock = threading.Lock()

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        with lock:
            response = app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                if hasattr(response, "close"):
                    response.close()

    return application


@pytest.fixture(scope="session", autouse=True)
def serialised_live_server(live_server) -> None:
    """On in-memory SQLite the live server's threads share one connection, and sqlite3 fails
    ('bad parameter or other API misuse') when two pages' requests use it at once."""
    if connection.vendor == "sqlite":
        httpd = live_server.thread.httpd
        httpd.set_app(one_at_a_time(httpd.get_app()))


@pytest.fixture
def sandbox_app(settings, tmp_path, live_server) -> str:
    """The live server's URL, with the sandbox provider seeded and synced into the mirror."""
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_SANDBOX_FLAVOR = "workos"
    settings.KARMO_SANDBOX_DIR = tmp_path / "sandbox"
    settings.KARMO_SANDBOX_URL = ""
    run = run_sync()
    assert run.state == "succeeded", run.errors
    return live_server.url


@pytest.fixture
def staff(sandbox_app) -> dict[str, User]:
    """One login per console role."""
    return {
        "helpdesk": make_staff("helpdesk", "Help desk"),
        "manager": make_staff("manager", "Manager"),
        "auditor": make_staff("auditor", "Auditor"),
    }


@pytest.fixture
def sign_in(browser, sandbox_app, staff) -> Iterator[Callable[[str], object]]:
    """Open a fresh browser context and sign in through the form (None: stay anonymous)."""
    contexts = []
    refused: list[str] = []

    def open_as(username: str | None, *, viewport: dict[str, int] = DESKTOP) -> object:
        context = browser.new_context(viewport=viewport, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("console", lambda message: _note_refusal(message, refused, page))
        # The live server's first answer (templates, static lookups) is slow on a busy machine.
        page.goto(f"{sandbox_app}/login/", timeout=30_000)
        if username is None:
            return page
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{sandbox_app}/")
        return page

    yield open_as
    for context in contexts:
        context.close()
    assert not refused, f"the browser refused content (CSP?): {refused}"


def _note_refusal(message: object, refused: list[str], page: object) -> None:
    """Collect Content-Security-Policy violations and script errors from the console."""
    text = message.text
    expected = ("Failed to load resource", "htmx:")
    if message.type == "error" and not text.startswith(expected):
        refused.append(f"{text[:60]} on {page.url}")


@pytest.fixture
def snap() -> Callable[..., None]:
    """Screenshot a page at desktop and phone widths into artifacts/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: object, name: str) -> None:
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            # caret="initial": hiding the caret injects a <style> that the CSP rightly refuses.
            page.screenshot(
                path=SCREENSHOTS / f"{name}-{label}.png", full_page=True, caret="initial"
            )
        page.set_viewport_size(DESKTOP)

    return take
