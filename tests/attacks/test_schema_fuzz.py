"""The service's own OpenAPI schema, fuzzed by schemathesis against the real ASGI app.

No generated request, valid or hostile, may get a 5xx, and every answer must be one the
schema documents: its status, its media type and its body. Each operation is fuzzed twice,
anonymously and signed in (a fresh access token for every case, so a fuzzed sign-out cannot
lock the other cases out), and a stateful run follows links from sign-up through sign-in,
refresh and sign-out so the success paths are fuzzed too. Every test gets its own SQLite
file, the FAST_FOR_TESTS hashing preset and throttles too generous to trip.

The budget is fixed so the file stays well under a minute on a 2-core machine; for a longer
run, `python bench/fuzz.py --examples 1000`.
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from helpers import PASSWORD, bearer

Case = schemathesis.Case[Any]

EMAIL = "fuzz@example.com"
EXAMPLES_PER_OPERATION = 15  # per operation and identity: about 1,200 requests over 40 operations
WORKFLOWS = 25  # stateful scenarios, each up to WORKFLOW_STEPS requests
WORKFLOW_STEPS = 8
WORKFLOW_SECRET = "Ot6rcWBtiLUEaOnZ6hDMMVP2vcgfn9Lpdm5_r-cWqX0"  # a fixed `authgate secret`

BUDGET = hypothesis.settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,  # a request is a few ms, but CI machines stall at random
    # The app fixture is meant to be shared by every case of an operation; the rest are
    # generation-side checks that hostile bodies and tight schemas trip by design.
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# not_a_server_error holds everywhere, with no exception. The three conformance checks hold
# everywhere except where the schema itself is wrong, listed below.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

# Answers the routes give on purpose but the OpenAPI schema does not document, or documents
# with the wrong shape: src defects, reported with the suggested fix. A row excuses exactly
# one (operation, status, check); every other answer of the operation is still checked.
# Remove a row when src/authgate/web/routes/ documents the answer.
# (operation, status, check) rows the schema is known not to describe. Empty: every answer
# the fuzzer has met is documented. A new gap is a defect in the schema or the app.
SCHEMA_GAPS: set[tuple[str, int, str]] = set()

# The service's schema has no OpenAPI links (schemathesis infers one by itself: the ids that
# GET /sessions lists feed DELETE /sessions/{session_id}). These lead the stateful run down
# the success paths, which random bodies almost never reach.
LINKS = [
    (
        "POST /sign-up",
        "201",
        "POST /sign-in",
        {"requestBody": {"email": "$request.body#/email", "password": "$request.body#/password"}},
    ),
    (
        "POST /sign-in",
        "200",
        "POST /token",
        {"requestBody": {"refresh_token": "$response.body#/refresh_token"}},
    ),
    (
        "POST /token",
        "200",
        "POST /token",
        {"requestBody": {"refresh_token": "$response.body#/refresh_token"}},
    ),
    (
        "POST /sign-in",
        "200",
        "POST /sign-out",
        {"requestBody": {"refresh_token": "$response.body#/refresh_token"}},
    ),
    (
        "POST /token",
        "200",
        "GET /me",
        {"parameters": {"header.Authorization": "Bearer {$response.body#/access_token}"}},
    ),
    (
        "POST /sign-in",
        "200",
        "GET /sessions",
        {"parameters": {"header.Authorization": "Bearer {$response.body#/access_token}"}},
    ),
]


def openapi_document() -> dict[str, Any]:
    """The schema the service serves at /openapi.json, taken from a throwaway app."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(
            Settings(database_url=f"sqlite:///{Path(folder) / 'schema.db'}"), preset=FAST_FOR_TESTS
        )
        document: dict[str, Any] = app.openapi()
        app.state.hashing.shutdown()
        app.state.service.close()
    return document


def with_credential_rules(document: dict[str, Any]) -> dict[str, Any]:
    """State what the service enforces on credentials but the schema leaves out (a gap).

    Both fields are documented as any string; the service wants an e-mail address and a
    password of 8 to 1024 characters (DESIGN.md §4). Without this almost no generated
    sign-up succeeds, and the workflows never get past it.
    """
    credentials = [
        document["components"]["schemas"]["Credentials"],
        document["paths"]["/sign-in"]["post"]["requestBody"]["content"]["application/json"][
            "schema"
        ],
    ]
    for shape in credentials:
        shape["properties"]["email"]["format"] = "email"
        shape["properties"]["password"].update(minLength=8, maxLength=1024)
    return document


def with_links(document: dict[str, Any]) -> dict[str, Any]:
    def operation(label: str) -> dict[str, Any]:
        method, path = label.split(" ")
        found: dict[str, Any] = document["paths"][path][method.lower()]
        return found

    for source, status, target, link in LINKS:
        links = operation(source)["responses"][status].setdefault("links", {})
        name = operation(target)["operationId"]
        links[name] = {"operationId": operation(target)["operationId"], **link}
    return document


schema = schemathesis.openapi.from_dict(with_links(with_credential_rules(openapi_document())))


@pytest.fixture
def served(app: FastAPI) -> Iterator[FastAPI]:
    """The app, with a user to sign in as; its lifespan (run by schemathesis) ends after."""
    response = post(app, "/sign-up", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 201
    yield app
    shutdown_lifespans()


def post(app: FastAPI, path: str, body: dict[str, str]) -> Any:
    """POST on the one event loop (and lifespan) schemathesis runs the app in.

    Not through a TestClient of its own: that would run each request on a loop of its own,
    and the app's lifespan resources must never meet two loops (see web/helpers.companion).
    """
    with get_client(app) as client:  # starts the app's lifespan once, shared with the cases
        return client.post(path, json=body)


def fresh_access_token(app: FastAPI) -> str:
    response = post(app, "/sign-in", {"email": EMAIL, "password": PASSWORD})
    if response.status_code == 401:  # a fuzzed DELETE /me succeeded: the account is gone
        assert post(app, "/sign-up", {"email": EMAIL, "password": PASSWORD}).status_code == 201
        response = post(app, "/sign-in", {"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


def assert_conforms(case: Case, response: schemathesis.Response, **kwargs: Any) -> None:
    """Run every check; fail on any failure but the known schema gaps."""
    for check in CHECKS:
        try:
            case.validate_response(response, checks=[check], **kwargs)
        except FailureGroup:
            gap = (case.operation.label, response.status_code, check.__name__)
            if gap not in SCHEMA_GAPS:
                raise


# The identity parameter also names each test after its operation: with pytest 9.2,
# schemathesis 4.32 items without a parameter of their own all get the bare function's id.
@pytest.mark.parametrize("identity", ["anonymous", "signed-in"])
@schema.parametrize()
@BUDGET
def test_requests_get_no_server_error_and_only_documented_answers(
    case: Case, identity: str, served: FastAPI
) -> None:
    headers = bearer(fresh_access_token(served)) if identity == "signed-in" else None
    response = case.call(app=served, headers=headers)
    assert_conforms(case, response, headers=headers)


def test_linked_workflows_get_no_server_error_and_only_documented_answers(
    settings: Settings, tmp_path: Path
) -> None:
    """Sign-up, sign-in, refresh, sign-out and session lists, chained by links."""
    answered: set[tuple[str, int]] = set()
    scenarios = itertools.count()

    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Hypothesis replays and varies scenarios, and what it draws next depends on the
            # answers so far: each scenario must meet the same state, so it gets a fresh
            # service (HS256, no key to generate) and a clock that ticks once a request.
            self.clock = FrozenClock(datetime(2030, 1, 1, 12, 0, tzinfo=UTC))
            database = tmp_path / f"scenario-{next(scenarios)}.db"
            self.app = create_app(
                dataclasses.replace(
                    settings,
                    database_url=f"sqlite:///{database}",
                    algorithm="HS256",
                    secret=Secret(WORKFLOW_SECRET),
                ),
                clock=self.clock,
                preset=FAST_FOR_TESTS,
            )
            signed_up = post(self.app, "/sign-up", {"email": EMAIL, "password": PASSWORD})
            assert signed_up.status_code == 201
            self.headers = bearer(fresh_access_token(self.app))

        def teardown(self) -> None:
            shutdown_lifespans()

        def before_call(self, case: Case) -> None:
            self.clock.advance(1)  # so "most recently used first" orders sessions one way

        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            if "Authorization" in (case.headers or {}):  # set by a link
                return {"app": self.app}
            return {"app": self.app, "headers": self.headers}

        def validate_response(
            self, response: schemathesis.Response, case: Case, **kwargs: Any
        ) -> None:
            answered.add((case.operation.label, response.status_code))
            assert_conforms(case, response, headers=kwargs.get("headers"))

    Workflow.run(
        settings=hypothesis.settings(
            BUDGET, max_examples=WORKFLOWS, stateful_step_count=WORKFLOW_STEPS, derandomize=True
        )
    )
    # The run got past the guard and followed a link with real data: a listed session ended.
    assert ("DELETE /sessions/{session_id}", 204) in answered


@pytest.mark.parametrize("route", ["/sign-up", "/sign-in", "/token", "/sign-out"])
def test_body_that_is_not_utf8_is_a_422(route: str, client: TestClient) -> None:
    """Found by the fuzzer: DESIGN.md §2 answers malformed JSON with 422, on every route."""
    response = client.post(
        route, content=b"\xff\xfe{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
