"""Emulators served on loopback for the providers' official SDKs, recording what they answer."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest
import requests
import stytch
import workos

from providers.emulators.server import RunningEmulator, serve_in_thread
from providers.emulators.stytch import PROJECT_ID, SECRET, StytchEmulator
from providers.emulators.workos import EMULATOR_API_KEY, WorkOSEmulator
from providers.emulators.zitadel import DEFAULT_TOKEN, ZitadelEmulator
from tests.sdk.recording import Recording
from tests.sdk.tls import self_signed

with warnings.catch_warnings():
    # authlib (under zitadel-client) deprecates its own jose module on import, after
    # installing an "always" filter for that warning: ignore it once that filter is in.
    import authlib.deprecate

    warnings.simplefilter("ignore", authlib.deprecate.AuthlibDeprecationWarning)
    import zitadel_client


def _served(app, **options) -> Iterator[RunningEmulator]:
    running = serve_in_thread(app, **options)
    yield running
    running.stop()


class RecordingStytch(Recording, StytchEmulator):
    pass


@pytest.fixture(scope="session")
def stytch_sdk_emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    """The Stytch emulator over HTTPS (the SDK refuses plain HTTP), with its CA file."""
    cert, context = self_signed(tmp_path_factory.mktemp("tls"))
    app = RecordingStytch()
    app.ca_file = str(cert)
    yield from _served(app, tls=context)


@pytest.fixture
def stytch_sdk(stytch_sdk_emulator) -> Iterator[stytch.B2BClient]:
    """Stytch's B2B client on the emulator (demo data), trusting only the emulator's CA."""
    stytch_sdk_emulator.app.reset()
    with requests.Session() as session:
        # No proxies or CA bundles from the environment: loopback, verified against our CA.
        session.trust_env = False
        session.verify = stytch_sdk_emulator.app.ca_file
        yield stytch.B2BClient(
            PROJECT_ID, SECRET, custom_base_url=stytch_sdk_emulator.url, sync_session=session
        )


class RecordingWorkOS(Recording, WorkOSEmulator):
    pass


@pytest.fixture(scope="session")
def workos_sdk_emulator() -> Iterator[RunningEmulator]:
    yield from _served(RecordingWorkOS(api_key=EMULATOR_API_KEY))


@pytest.fixture
def workos_sdk(workos_sdk_emulator) -> Iterator[workos.WorkOSClient]:
    """WorkOS's client on the emulator (demo data); it does not retry, so faults show."""
    workos_sdk_emulator.app.reset()
    client = workos.WorkOSClient(
        api_key=EMULATOR_API_KEY,
        client_id="client_karmo_emulator",
        base_url=workos_sdk_emulator.url,
        max_retries=0,
    )
    yield client
    client.close()


class RecordingZitadel(Recording, ZitadelEmulator):
    pass


@pytest.fixture(scope="session")
def zitadel_sdk_emulator() -> Iterator[RunningEmulator]:
    yield from _served(RecordingZitadel(token=DEFAULT_TOKEN))


@pytest.fixture
def zitadel_sdk(zitadel_sdk_emulator) -> zitadel_client.Zitadel:
    """ZITADEL's client with a personal access token, on the emulator (demo data)."""
    zitadel_sdk_emulator.app.reset()
    return zitadel_client.Zitadel.with_access_token(zitadel_sdk_emulator.url, DEFAULT_TOKEN)
