"""A bcrypt cost above 14 is refused at import and never computed at sign-in.

Each step of the cost doubles bcrypt's work: a `$2b$31$` hash takes about 36 hours of one
core to check, so two sign-ins to it would hold both hashing threads of a 2-core server.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from authgate.core.passwords import is_password_hash
from authgate.core.store import User, UserId
from authgate.service import Service
from authgate.settings import Settings
from helpers import PASSWORD
from servers import Server
from test_import import (
    NOW,
    counts,
    document,
    opened_service,
    real_hash,
    run,
    write_lines,
)


def with_cost(cost: int) -> str:
    """A well-formed bcrypt hash naming `cost` (a real cost-4 hash with its cost replaced)."""
    hashed = real_hash("$2b$")
    assert hashed.startswith("$2b$04$")
    return f"$2b${cost:02d}$" + hashed.removeprefix("$2b$04$")


def test_a_hash_above_the_cost_cap_is_not_a_usable_hash() -> None:
    assert is_password_hash(with_cost(14))
    assert not is_password_hash(with_cost(15))
    assert not is_password_hash(with_cost(31))


@pytest.mark.parametrize("cost", [15, 31])
def test_an_import_refuses_a_hash_above_cost_14_and_imports_the_rest(
    environment: Path, capsys: pytest.CaptureFixture[str], cost: int
) -> None:
    lines = [
        document("ada@example.com", number=1),
        {**document("deep@example.com", number=2), "password": with_cost(cost)},
        document("bob@example.com", number=3),
    ]

    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 0, "invalid": 1}
    assert f"bcrypt cost {cost} is above 14, the most authgate verifies" in out
    with opened_service() as service:
        assert service.parts.store.user_by_email("deep@example.com") is None
        assert service.parts.store.user_by_email("bob@example.com") is not None


def test_an_import_keeps_a_hash_of_cost_14(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hashed = with_cost(14)
    lines = [{**document("ada@example.com", number=1), "password": hashed}]

    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out)["imported"] == 1
    with opened_service() as service:
        stored = service.parts.store.user_by_email("ada@example.com")
        assert stored is not None
        assert stored.password_hash == hashed


@pytest.mark.e2e
def test_sign_in_to_a_stored_hash_of_cost_31_fails_at_once_and_holds_no_hashing_thread(
    tmp_path: Path,
) -> None:
    """A real server (2 hashing threads, RECOMMENDED argon2id): 401 in well under a second.

    Before the cap, the first request would not have answered for about 36 hours.
    """
    deep = with_cost(31)
    with Server(tmp_path / "server", settings={"AUTHGATE_HASHING_WORKERS": "2"}) as server:
        settings = Settings.from_env({**server.env})
        service = Service(settings)
        try:
            service.parts.store.add_user(User(UserId("deep-user"), "deep@example.com", deep, NOW))
        finally:
            service.close()
        with httpx.Client(base_url=server.url, timeout=5) as client:
            ada_up = client.post(
                "/sign-up", json={"email": "ada@example.com", "password": PASSWORD}
            )
            assert ada_up.status_code == 201
            for _ in range(3):  # more attempts than there are hashing threads
                started = time.monotonic()
                answer = client.post(
                    "/sign-in", json={"email": "deep@example.com", "password": "any password"}
                )
                assert answer.status_code == 401
                assert answer.json()["error"] == "invalid_credentials"
                assert time.monotonic() - started < 1
            started = time.monotonic()
            ada = client.post("/sign-in", json={"email": "ada@example.com", "password": PASSWORD})
            assert ada.status_code == 200
            assert time.monotonic() - started < 1
    assert "refused a stored bcrypt hash without checking it: its cost is 31" in server.log
    assert deep not in server.log
    assert deep.removeprefix("$2b$31$") not in server.log
    assert "any password" not in server.log
