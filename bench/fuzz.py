"""A long schemathesis run against authgate's own OpenAPI schema: counts, not a first failure.

    .venv/bin/python bench/fuzz.py                   # 200 examples per operation, mode, identity
    .venv/bin/python bench/fuzz.py --examples 1000   # the long run: 18,000 requests, 3 minutes
    .venv/bin/python bench/fuzz.py --examples 1000 --seed 7

CI runs tests/attacks/test_schema_fuzz.py with a small fixed budget; this is the same search,
as long as you like. It builds the real ASGI app on a fresh SQLite file (FAST_FOR_TESTS
hashing, throttles that never trip) and loads the schema the app serves at /openapi.json.
Then, for every operation, it sends --examples positive and --examples negative cases,
anonymously and signed in (a fresh access token per case, so a fuzzed sign-out locks no
one out), and runs the same checks as the test on every answer: not_a_server_error,
status_code_conformance, content_type_conformance, response_schema_conformance.

It prints one line per operation and identity as it goes, then the totals: cases sent,
server errors, and schema violations grouped by (operation, status, check) with a curl
command that reproduces the first of each. Known schema gaps are counted like any other
violation. The exit status is 1 when there was a server error or a violation, else 0.

The schema documents e-mail and password as bare strings, so generated sign-ups almost
never succeed here; the stateful run in the test follows links down the success paths.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import hypothesis.errors
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authgate.core.passwords import FAST_FOR_TESTS
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import create_app

Case = schemathesis.Case[Any]
Operation = schemathesis.APIOperation[Any, Any, Any, Any]

EMAIL = "fuzz@example.com"
PASSWORD = "correct horse battery staple"
GENEROUS = "1000000/minute"
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Tally:
    cases: int = 0
    statuses: Counter[int] = field(default_factory=Counter)  # of the current operation
    server_errors: Counter[tuple[str, int]] = field(default_factory=Counter)
    violations: Counter[tuple[str, int, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, int, str], str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def record(self, case: Case, response: schemathesis.Response) -> None:
        label = case.operation.label
        self.cases += 1
        self.statuses[response.status_code] += 1
        for check in [not_a_server_error, *CONFORMANCE]:
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup:
                key = (label, response.status_code, check.__name__)
                if check is not_a_server_error:
                    self.server_errors[(label, response.status_code)] += 1
                else:
                    self.violations[key] += 1
                self.examples.setdefault(
                    key, case.as_curl_command(headers=dict(response.request.headers))
                )


def fuzz_operation(
    operation: Operation,
    *,
    mode: GenerationMode,
    examples: int,
    seed: int,
    signed_in: bool,
    service: Service,
    tally: Tally,
) -> None:
    """Send `examples` generated cases to one operation; never stop at a failure."""

    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # nothing fails, so nothing to shrink
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def send(case: Case) -> None:
        headers = None
        if signed_in:
            token = service.sign_in(EMAIL, PASSWORD).access_token
            headers = {"Authorization": f"Bearer {token}"}
        tally.record(case, case.call(headers=headers))

    try:
        send()
    except hypothesis.errors.Unsatisfiable:  # no input to get wrong, e.g. GET /health
        tally.skipped.append(f"{operation.label} {mode.value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=200, help="per operation, mode, identity")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="authgate-fuzz-"))
    settings = Settings(
        database_url=f"sqlite:///{folder / 'authgate.db'}",
        throttle_sign_up=GENEROUS,
        throttle_sign_in_ip=GENEROUS,
        throttle_sign_in_account=GENEROUS,
        throttle_token=GENEROUS,
    )
    app = create_app(settings, preset=FAST_FOR_TESTS)
    service: Service = app.state.service
    service.parts.accounts.sign_up(EMAIL, PASSWORD)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    print(f"schemathesis {schemathesis.__version__}, {args.examples} examples, seed {args.seed}")
    print(f"database {folder / 'authgate.db'}\n")

    tally = Tally()
    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # FastAPI's schema has no broken operation
        for identity in ("anonymous", "signed-in"):
            before = tally.cases
            tally.statuses.clear()
            for mode in GenerationMode:
                fuzz_operation(
                    operation,
                    mode=mode,
                    examples=args.examples,
                    seed=args.seed,
                    signed_in=identity == "signed-in",
                    service=service,
                    tally=tally,
                )
            statuses = ", ".join(f"{n} x {status}" for status, n in sorted(tally.statuses.items()))
            print(
                f"{operation.label:<38} {identity:<10} {tally.cases - before:>6} cases: {statuses}"
            )
    shutdown_lifespans()

    print(f"\n{tally.cases} cases in {time.monotonic() - started:.0f} s")
    print(f"{sum(tally.server_errors.values())} server errors")
    for (label, status), n in sorted(tally.server_errors.items()):
        print(f"  {n:>6}  {label} -> {status}")
        print(f"          {tally.examples[(label, status, 'not_a_server_error')]}")
    print(f"{sum(tally.violations.values())} schema violations")
    for (label, status, check), n in sorted(tally.violations.items()):
        print(f"  {n:>6}  {label} -> {status}  {check}")
        print(f"          {tally.examples[(label, status, check)]}")
    if tally.skipped:
        print(f"no input to generate: {', '.join(sorted(set(tally.skipped)))}")
    return 1 if tally.server_errors or tally.violations else 0


if __name__ == "__main__":
    sys.exit(main())
