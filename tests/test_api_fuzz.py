"""Schemathesis against the served OpenAPI document: a live server on the WorkOS emulator, a
manager's token; no 5xx, and every answer matches the document. Bounded: a few examples each.

The operations are driven one by one through `as_strategy()` with Hypothesis, because
schemathesis' lazy pytest fixture loader does not run under pytest 9.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from accounts.tokens import issue_token

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES_PER_OPERATION = 5
ACCEPTED_VALID = ["2XX", "400", "401", "403", "404", "409", "429"]
BOUNDS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=timedelta(seconds=5),
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=True,
)


@pytest.fixture
def api_schema(live_server, mirrored, manager, settings, audit_signing):
    """The document the live server serves, called with a manager's Bearer token (and the
    audit signing key evidence packs need)."""
    settings.KARMO_API_RATE_LIMIT = 0
    _token, raw = issue_token(manager, "fuzz")
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {
            # An opaque cursor that fits the schema may still name no position: 400 is its answer.
            "checks": {
                "enabled": True,  # every built-in check, NUL bytes generated too
                "positive_data_acceptance": {"expected-statuses": ACCEPTED_VALID},
            },
        }
    )
    base_url = live_server.url.replace("localhost", "127.0.0.1")  # no IPv6 lookup per request
    schema = schemathesis.openapi.from_url(f"{base_url}/api/v1/openapi.json", config=config)
    schema.config.update(base_url=base_url)
    schema.hook(filter_query)
    return schema, {"Authorization": f"Bearer {raw}"}


def filter_query(context, query) -> bool:
    """Skip query cases requests cannot send as generated (None values and nameless keys are
    dropped), which would otherwise be judged by what was never sent."""
    return query is None or all(key and value is not None for key, value in query.items())


def test_every_operation_conforms_and_never_fails_on_our_side(api_schema):
    schema, auth = api_schema
    failures = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 26
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @BOUNDS
            @given(case=operation.as_strategy(generation_mode=mode))
            def exercise(case):
                case.call_and_validate(headers=auth, timeout=10)

            try:
                exercise()
            except Unsatisfiable:
                continue  # nothing to negate in this operation
            except (AssertionError, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)
