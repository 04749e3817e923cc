"""In-process references for bench/http/run.py; each prints one JSON line.

    python bench/http/inprocess.py ceiling --seconds 10
        argon2-cffi alone: verifications/s of one argon2id hash with authgate's parameters
        (its RECOMMENDED preset), in as many threads as the server's hashing pool has by
        default (AUTHGATE_HASHING_WORKERS), for about --seconds.
    python bench/http/inprocess.py costs --seconds 2 --database-url URL [--database-url URL]
        What one refresh-token rotation costs without HTTP: `Service.refresh` in a loop on
        each database (one chain, RS256), and issuing (signing) one access token alone
        under RS256, ES256 and EdDSA. Microseconds per operation.

No server and no HTTP: these are the references the HTTP figures are compared with.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import argon2

from authgate.core.keys import KeyRing, generate_key
from authgate.core.passwords import FAST_FOR_TESTS, RECOMMENDED
from authgate.core.tokens import issue_access_token
from authgate.service import Service
from authgate.settings import Settings

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
ALGORITHMS = ("RS256", "ES256", "EdDSA")


def ceiling(seconds: float) -> dict[str, object]:
    threads = Settings().hashing_workers  # the server's default pool size
    preset = RECOMMENDED
    hasher = argon2.PasswordHasher(
        time_cost=preset.time_cost,
        memory_cost=preset.memory_cost_kib,
        parallelism=preset.parallelism,
        type=argon2.Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    counts = [0] * threads
    start = time.perf_counter()
    deadline = start + seconds
    finished = [start] * threads

    def verify(index: int) -> None:
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            counts[index] += 1
        finished[index] = time.perf_counter()

    workers = [threading.Thread(target=verify, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = max(finished) - start
    return {
        "threads": threads,
        "parameters": stored.split("$")[3],
        "verifications": sum(counts),
        "verifications_per_s": sum(counts) / elapsed,
    }


def per_call_us(call: Callable[[], object], seconds: float) -> float:
    """Microseconds per call, over about `seconds` after a short warm-up."""
    for _ in range(20):
        call()
    calls, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        call()
        calls += 1
        now = time.perf_counter()
        if now >= deadline:
            return (now - start) / calls * 1e6


def rotation_us(database_url: str, seconds: float) -> float:
    service = Service(Settings(database_url=database_url), preset=FAST_FOR_TESTS)
    try:
        service.sign_up(EMAIL, PASSWORD)
        chain = [service.sign_in(EMAIL, PASSWORD).refresh_token]

        def rotate() -> None:
            chain[0] = service.refresh(chain[0]).refresh_token

        return per_call_us(rotate, seconds)
    finally:
        service.close()


def signing_us(algorithm: str, seconds: float) -> float:
    now = datetime.now(UTC)
    ring = KeyRing(generate_key(algorithm, now=now))  # type: ignore[arg-type]

    def issue() -> None:
        issue_access_token(
            subject="0" * 32,
            email=EMAIL,
            session_id="1" * 32,
            keys=ring,
            issuer="http://localhost:8000",
            audience="authgate",
            now=now,
            ttl=timedelta(seconds=900),
        )

    return per_call_us(issue, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("what", choices=("ceiling", "costs"))
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--database-url", action="append", default=[])
    args = parser.parse_args()
    if args.what == "ceiling":
        result = ceiling(args.seconds)
    else:
        result = {
            "rotation_us": {
                url.split(":")[0]: rotation_us(url, args.seconds) for url in args.database_url
            },
            "signing_us": {alg: signing_us(alg, args.seconds / 4) for alg in ALGORITHMS},
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
