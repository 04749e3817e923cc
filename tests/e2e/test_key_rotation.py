"""`authgate keys rotate` under continuous traffic on two instances, and `serve --workers 2`.

Clients sign in, refresh and call the guarded route on both instances, with tokens minted
by either, while an operator rotates the signing key. Not one request may fail.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpers import PASSWORD, new_postgres_database
from servers import Server
from services import Redis

from .test_instances import guarded, instances, sign_up_and_in

pytestmark = pytest.mark.postgresql  # the instances share a PostgreSQL database

DELAY = 3  # seconds between publishing the next key and signing with it


def kid_of(token: str) -> str:
    header = token.split(".")[0]
    kid: str = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    return kid


def jwks_kids(server: Server) -> set[str]:
    keys = httpx.get(f"{server.url}/.well-known/jwks.json").json()["keys"]
    return {key["kid"] for key in keys}


class Traffic:
    """Threads that keep signing in, refreshing and calling /test across both instances."""

    def __init__(self, servers: tuple[Server, Server], users: list[str]) -> None:
        self.servers = servers
        self.users = users
        self.stop = threading.Event()
        self.failures: list[str] = []
        self.counts: Counter[str] = Counter()
        self.kids: list[tuple[float, str]] = []
        self.old_tokens: list[str] = []
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(len(users))
        ]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _expect(self, response: httpx.Response, status: int, what: str) -> bool:
        self.counts[what] += 1
        if response.status_code != status:
            self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")
            return False
        return True

    def _run(self, n: int) -> None:
        email = self.users[n]
        with httpx.Client(timeout=10) as client:
            turn = n
            while not self.stop.is_set():
                signer = self.servers[turn % 2]
                checker = self.servers[(turn + 1) % 2]
                turn += 1
                signed_in = client.post(
                    f"{signer.url}/sign-in", json={"email": email, "password": PASSWORD}
                )
                if not self._expect(signed_in, 200, "sign-in"):
                    continue
                tokens = signed_in.json()
                self.kids.append((time.monotonic(), kid_of(tokens["access_token"])))
                self.old_tokens.append(tokens["access_token"])
                for _ in range(5):
                    token = self.old_tokens[(len(self.old_tokens) * 7919) % len(self.old_tokens)]
                    for server in self.servers:
                        answer = client.get(
                            f"{server.url}/test", headers={"Authorization": f"Bearer {token}"}
                        )
                        self._expect(answer, 200, "guarded")
                refreshed = client.post(
                    f"{checker.url}/token", json={"refresh_token": tokens["refresh_token"]}
                )
                if self._expect(refreshed, 200, "refresh"):
                    fresh = refreshed.json()["access_token"]
                    self.kids.append((time.monotonic(), kid_of(fresh)))
                    self._expect(
                        client.get(
                            f"{signer.url}/test", headers={"Authorization": f"Bearer {fresh}"}
                        ),
                        200,
                        "guarded",
                    )


@pytest.fixture
def pair(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis
) -> Iterator[tuple[Server, Server]]:
    yield from instances(
        tmp_path,
        request,
        redis=redis_server,
        AUTHGATE_REVOCATION_POLL_INTERVAL="1",
        AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT="10000/minute",
    )


def test_a_rotation_under_traffic_fails_no_request_on_either_instance(
    pair: tuple[Server, Server],
) -> None:
    a, b = pair
    users = [f"traffic{n}@example.com" for n in range(4)]
    for email in users:
        sign_up_and_in(a, email)
    old_kids = jwks_kids(a)
    assert jwks_kids(b) == old_kids
    assert len(old_kids) == 1

    with Traffic(pair, users) as traffic:
        time.sleep(1.5)
        rotated_at = time.monotonic()
        output = a.command("keys", "rotate", "--delay", str(DELAY)).stdout
        rotated_by = time.monotonic()  # the new key signs from (at most) DELAY after this
        new_kid = output.split("key ", 1)[1].split()[0]
        published = {server.port: 0.0 for server in pair}
        while not all(published.values()) and time.monotonic() - rotated_by < 5:
            for server in pair:
                if not published[server.port] and new_kid in jwks_kids(server):
                    published[server.port] = time.monotonic() - rotated_by
        time.sleep(DELAY + 3.5)

    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.counts["guarded"] > 100, traffic.counts
    assert traffic.counts["refresh"] > 10, traffic.counts
    # Both instances published the next key within a second of the command's end...
    assert all(0 < delay < 1.0 for delay in published.values()), published
    # ...signed with the old key until the delay was over, and with the new one after it
    # (each instance switches at its next catch-up, within the 1 s poll interval).
    before = {kid for at, kid in traffic.kids if at < rotated_at + DELAY - 0.5}
    after = {kid for at, kid in traffic.kids if at > rotated_by + DELAY + 1.5}
    assert before == old_kids
    assert after == {new_kid}
    # Old tokens still pass everywhere: the old key verifies until its last token expired.
    for server in pair:
        assert jwks_kids(server) == old_kids | {new_kid}
        assert guarded(server, traffic.old_tokens[0]) == 200


def test_several_workers_share_revocations_and_throttles(
    request: pytest.FixtureRequest, tmp_path: Path, redis_server: Redis
) -> None:
    """`serve --workers 2`: whichever worker a new connection reaches, it knows."""
    redis_server.flush()
    settings = {
        "AUTHGATE_DATABASE_URL": new_postgres_database(request),
        "AUTHGATE_REDIS_URL": redis_server.url,
        "AUTHGATE_REVOCATION_POLL_INTERVAL": "60",
    }
    with Server(tmp_path / "w", settings, workers=2) as server:
        tokens = sign_up_and_in(server, "ada@example.com")
        signed_out = httpx.post(
            f"{server.url}/sign-out", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert signed_out.status_code == 204
        time.sleep(0.5)
        # A new connection each time, so the kernel spreads them over both workers.
        assert {guarded(server, tokens["access_token"]) for _ in range(40)} == {401}

        statuses = [
            httpx.post(
                f"{server.url}/sign-in", json={"email": "ada@example.com", "password": "nope!nope"}
            ).status_code
            for _ in range(7)
        ]
        assert statuses == [401] * 5 + [429] * 2
