"""Refresh tokens that must not refresh, at POST /token and in the core alike (STYLE.md §8).

Each row acts out a short story on a surface (sign in, rotate, sign out, let time pass)
and returns the refresh tokens the attacker then presents, in order; every one of them
must get `invalid_grant`, and nothing may reach a 5xx. The same rows run on the core
(`Service.refresh`) and over HTTP (`POST /token`). Wrong JSON types, bodies over the
1 MiB cap and other users' access tokens are HTTP matters, in their own tables below.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple, Protocol

import pytest
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.store import SessionId, UserId
from authgate.errors import InvalidGrant, UnknownSession
from authgate.service import Service
from authgate.settings import Settings
from authgate.web.app import MAX_BODY_BYTES
from helpers import PASSWORD, bearer, filled_from

ADA = "ada@example.com"
BOB = "bob@example.com"
GRACE = 10  # seconds: the default refresh_reuse_grace
DAY = 24 * 3600
SQLITE = "sqlite:///"


# -- a database per test, copied from one made once ------------------------------------


ALGORITHM = "ES256"  # refresh tokens don't depend on it; its key loads ~50x faster than RSA's


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated database holding a signing key: copying it is cheaper than making one."""
    path = tmp_path_factory.mktemp("template") / "authgate.db"
    start = datetime(2030, 1, 1, tzinfo=UTC)
    settings = Settings(database_url=SQLITE + str(path), algorithm=ALGORITHM)
    Service(settings, clock=lambda: start).close()
    return path


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, algorithm=ALGORITHM)


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, sqlite_template: Path) -> str:
    """The shared fixture's fresh SQLite file, filled from the template; others pass through."""
    return filled_from(sqlite_template, database_url, tmp_path)


# -- the two surfaces, behind one small interface ---------------------------------------


class Pair(NamedTuple):
    access: str
    refresh: str


class Surface(Protocol):
    """What a row may do: the steps of a story, then `present`, the refresh it attacks."""

    clock: FrozenClock

    def sign_in(self, email: str = ADA) -> Pair: ...
    def rotate(self, refresh_token: str) -> Pair: ...
    def sign_out(self, pair: Pair) -> None: ...
    def sign_out_by_refresh_token(self, pair: Pair) -> None: ...
    def sign_out_everywhere(self, pair: Pair) -> None: ...
    def user_id(self, pair: Pair) -> UserId: ...
    def operator(self) -> Service: ...
    def present(self, refresh_token: str) -> str: ...


class Core:
    def __init__(self, service: Service, clock: FrozenClock) -> None:
        self.service, self.clock = service, clock
        self._users: set[str] = set()

    def sign_in(self, email: str = ADA) -> Pair:
        if email not in self._users:
            self.service.parts.accounts.sign_up(email, PASSWORD)
            self._users.add(email)
        signed_in = self.service.sign_in(email, PASSWORD)
        return Pair(signed_in.access_token, signed_in.refresh_token)

    def rotate(self, refresh_token: str) -> Pair:
        signed_in = self.service.refresh(refresh_token)
        return Pair(signed_in.access_token, signed_in.refresh_token)

    def sign_out(self, pair: Pair) -> None:
        self.service.parts.sessions.end(SessionId(self.service.read(pair.access).session_id))

    def sign_out_by_refresh_token(self, pair: Pair) -> None:
        assert self.service.parts.sessions.end_by_refresh_token(pair.refresh)

    def sign_out_everywhere(self, pair: Pair) -> None:
        self.service.parts.sessions.end_all(self.user_id(pair))

    def user_id(self, pair: Pair) -> UserId:
        return UserId(self.service.read(pair.access).subject)

    def operator(self) -> Service:
        return self.service

    def present(self, refresh_token: str) -> str:
        """ "invalid_grant" when refused as it should be; "accepted" when not."""
        try:
            self.service.refresh(refresh_token)
        except InvalidGrant as refused:
            return refused.code
        return "accepted"


class Http:
    def __init__(self, client: TestClient, clock: FrozenClock) -> None:
        self.client, self.clock = client, clock
        self._users: set[str] = set()

    def sign_in(self, email: str = ADA) -> Pair:
        credentials = {"email": email, "password": PASSWORD}
        if email not in self._users:
            assert self.client.post("/sign-up", json=credentials).status_code == 201
            self._users.add(email)
        body = self.client.post("/sign-in", json=credentials).json()
        return Pair(body["access_token"], body["refresh_token"])

    def rotate(self, refresh_token: str) -> Pair:
        response = self.client.post("/token", json={"refresh_token": refresh_token})
        assert response.status_code == 200
        return Pair(response.json()["access_token"], response.json()["refresh_token"])

    def sign_out(self, pair: Pair) -> None:
        assert self.client.post("/sign-out", headers=bearer(pair.access)).status_code == 204

    def sign_out_by_refresh_token(self, pair: Pair) -> None:
        response = self.client.post("/sign-out", json={"refresh_token": pair.refresh})
        assert response.status_code == 204

    def sign_out_everywhere(self, pair: Pair) -> None:
        assert self.client.post("/sign-out-all", headers=bearer(pair.access)).status_code == 204

    def user_id(self, pair: Pair) -> UserId:
        return UserId(self.client.get("/me", headers=bearer(pair.access)).json()["id"])

    def operator(self) -> Service:
        """The service behind the app, as the CLI reaches it: there is no HTTP route."""
        service: Service = self.client.app.state.service  # type: ignore[attr-defined]
        return service

    def present(self, refresh_token: str) -> str:
        """ "invalid_grant" for a 401 in that shape, "accepted" for a 200, else what came."""
        response = self.client.post("/token", json={"refresh_token": refresh_token})
        if response.status_code == 200:
            return "accepted"
        if response.status_code == 401 and is_invalid_grant(response.json()):
            return "invalid_grant"
        return f"{response.status_code} {response.text[:200]}"


def is_invalid_grant(body: object) -> bool:
    return (
        isinstance(body, dict)
        and set(body) == {"error", "detail"}
        and body["error"] == "invalid_grant"
    )


@pytest.fixture(params=["core", "http"])
def surface(request: pytest.FixtureRequest, clock: FrozenClock, backend: str) -> Surface:
    """The core or the HTTP API, each on SQLite and on PostgreSQL (`backend`)."""
    if request.param == "core":
        return Core(request.getfixturevalue("service"), clock)
    return Http(request.getfixturevalue("client"), clock)


# -- the rows ------------------------------------------------------------------------

Attack = Callable[[Surface], list[str]]


def reused_after_rotation(s: Surface) -> list[str]:
    """Theft detected: the old token, then the successor the thief's victim holds."""
    first = s.sign_in()
    second = s.rotate(first.refresh)
    s.clock.advance(GRACE + 1)
    return [first.refresh, second.refresh]


def replayed_in_grace_after_successor_was_used(s: Surface) -> list[str]:
    """The grace window covers a lost response, not a successor that was already used."""
    first = s.sign_in()
    second = s.rotate(first.refresh)
    third = s.rotate(second.refresh)
    return [first.refresh, third.refresh]


def reused_mid_chain(s: Surface) -> list[str]:
    first = s.sign_in()
    second = s.rotate(first.refresh)
    third = s.rotate(second.refresh)
    s.clock.advance(GRACE + 1)
    return [second.refresh, third.refresh, first.refresh]


def signed_out(s: Surface) -> list[str]:
    pair = s.sign_in()
    s.sign_out(pair)
    return [pair.refresh]


def signed_out_by_refresh_token(s: Surface) -> list[str]:
    pair = s.sign_in()
    s.sign_out_by_refresh_token(pair)
    return [pair.refresh]


def signed_out_after_rotation(s: Surface) -> list[str]:
    """Sign-out ends the session, so both the spent and the current token are dead."""
    first = s.sign_in()
    second = s.rotate(first.refresh)
    s.sign_out(second)
    return [second.refresh, first.refresh]


def signed_out_everywhere(s: Surface) -> list[str]:
    phone = s.sign_in()
    laptop = s.sign_in()
    s.sign_out_everywhere(phone)
    return [phone.refresh, laptop.refresh]


def past_the_absolute_lifetime(s: Surface) -> list[str]:
    """Refreshed every 6 days, so never idle; still over 30 days after sign-in."""
    token = s.sign_in().refresh
    for _ in range(4):
        s.clock.advance(6 * DAY)
        token = s.rotate(token).refresh
    s.clock.advance(6 * DAY)
    return [token]


def idle_too_long(s: Surface) -> list[str]:
    pair = s.sign_in()
    s.clock.advance(7 * DAY + 1)
    return [pair.refresh]


def user_disabled(s: Surface) -> list[str]:
    pair = s.sign_in()
    s.operator().disable_user(s.user_id(pair))
    return [pair.refresh]


def password_changed(s: Surface) -> list[str]:
    pair = s.sign_in()
    s.operator().change_password(s.user_id(pair), "a different, longer passphrase")
    return [pair.refresh]


def access_token(s: Surface) -> list[str]:
    return [s.sign_in().access]


def stored_hash_of_a_real_token(s: Surface) -> list[str]:
    """What the database holds (sha256 hex), as if read from a leaked backup."""
    return [hashlib.sha256(s.sign_in().refresh.encode()).hexdigest()]


def edited(edit: Callable[[str], str]) -> Attack:
    """A live refresh token with one small edit."""

    def attack(s: Surface) -> list[str]:
        token = s.sign_in().refresh
        spoilt = edit(token)
        assert spoilt != token
        return [spoilt]

    return attack


def constant(value: str) -> Attack:
    def attack(s: Surface) -> list[str]:
        return [value]

    return attack


def first_replaced_by(character: str) -> Callable[[str], str]:
    return lambda token: character + token[1:]


# JSON quoting makes the body a little longer than the token; stay just under the cap.
NEARLY_ONE_MIB = MAX_BODY_BYTES - len('{"refresh_token":""}') - 64

REFUSED_GRANTS = [
    pytest.param(reused_after_rotation, id="reused-after-rotation-then-successor"),
    pytest.param(replayed_in_grace_after_successor_was_used, id="replayed-in-grace-chain-moved-on"),
    pytest.param(reused_mid_chain, id="reused-mid-chain"),
    pytest.param(signed_out, id="after-sign-out"),
    pytest.param(signed_out_by_refresh_token, id="after-sign-out-by-refresh-token"),
    pytest.param(signed_out_after_rotation, id="after-sign-out-current-and-spent"),
    pytest.param(signed_out_everywhere, id="after-sign-out-all-every-session"),
    pytest.param(past_the_absolute_lifetime, id="expired-absolute-lifetime"),
    pytest.param(idle_too_long, id="idle-timeout"),
    pytest.param(user_disabled, id="user-disabled"),
    pytest.param(password_changed, id="password-changed"),
    pytest.param(access_token, id="access-token"),
    pytest.param(stored_hash_of_a_real_token, id="sha256-hex-of-a-real-token"),
    pytest.param(edited(lambda t: t[:-1]), id="real-token-42-chars"),
    pytest.param(edited(lambda t: t + "A"), id="real-token-44-chars"),
    pytest.param(edited(lambda t: t + "="), id="real-token-base64-padded"),
    pytest.param(edited(first_replaced_by("+")), id="43-chars-standard-alphabet-plus"),
    pytest.param(edited(first_replaced_by("/")), id="43-chars-standard-alphabet-slash"),
    pytest.param(edited(first_replaced_by("!")), id="43-chars-invalid-alphabet"),
    pytest.param(edited(lambda t: t[:-1] + "é"), id="43-chars-non-ascii"),
    pytest.param(edited(lambda t: t[:-1] + "\x00"), id="43-chars-nul"),
    pytest.param(edited(lambda t: t[:-1] + "\n"), id="43-chars-trailing-newline"),
    pytest.param(edited(lambda t: t.upper()), id="real-token-upper-cased"),
    pytest.param(constant(""), id="empty"),
    pytest.param(constant("A" * 43), id="well-formed-never-issued"),
    pytest.param(constant("\U0001f511" * 43), id="43-emoji"),
    pytest.param(constant("A" * NEARLY_ONE_MIB), id="nearly-1-mib"),
]


def test_genuine_refresh_token_refreshes(surface: Surface) -> None:
    """The control: where every story starts, a refresh token that does refresh."""
    assert surface.present(surface.sign_in().refresh) == "accepted"


@pytest.mark.parametrize("attack", REFUSED_GRANTS)
def test_refresh_attack_gets_invalid_grant(attack: Attack, surface: Surface) -> None:
    presented = attack(surface)

    assert [surface.present(token) for token in presented] == ["invalid_grant"] * len(presented)


# -- HTTP only: bodies that are not a refresh token at all -----------------------------


def raw(body: bytes) -> dict[str, object]:
    return {"content": body, "headers": {"Content-Type": "application/json"}}


WRONG_TYPES = [
    pytest.param({"json": {"refresh_token": 12345}}, id="number"),
    pytest.param({"json": {"refresh_token": 1.5}}, id="float"),
    pytest.param({"json": {"refresh_token": True}}, id="boolean"),
    pytest.param({"json": {"refresh_token": ["A" * 43]}}, id="list"),
    pytest.param({"json": {"refresh_token": {"value": "A" * 43}}}, id="object"),
    pytest.param({"json": {"refresh_token": None}}, id="null"),
    pytest.param({"json": {"token": 12345}}, id="tutorial-key-number"),
    pytest.param({"json": {}}, id="missing"),
    pytest.param({"json": ["A" * 43]}, id="body-a-list"),
    pytest.param({"json": "A" * 43}, id="body-a-string"),
    pytest.param(raw(b'{"refresh_token": NaN}'), id="nan"),
    pytest.param(raw(b'{"refresh_token": "\\ud800' + b"A" * 37 + b'"}'), id="lone-surrogate"),
    pytest.param(raw(b'{"refresh_token": '), id="truncated-json"),
]


@pytest.mark.parametrize("request_body", WRONG_TYPES)
def test_refresh_body_of_the_wrong_type_gets_422(
    request_body: dict[str, object], client: TestClient
) -> None:
    response = client.post("/token", **request_body)  # type: ignore[arg-type]

    assert (response.status_code, sorted(response.json())) == (422, ["detail", "error"])


UNPARSABLE = [
    pytest.param(raw(b'{"refresh_token": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"), id="deep"),
    pytest.param(raw(b'{"refresh_token": "\xff\xfe"}'), id="invalid-utf-8"),
    pytest.param(raw(b'{"refresh_token": ' + b"9" * 5000 + b"}"), id="5000-digit-number"),
    pytest.param(raw(b"\x00" * 1024), id="nul-bytes"),
]


@pytest.mark.parametrize("request_body", UNPARSABLE)
def test_unparsable_refresh_body_gets_a_4xx(
    request_body: dict[str, object], client: TestClient
) -> None:
    """DESIGN.md §2: no input reaches a 500; each gets a 4xx with a detail."""
    response = client.post("/token", **request_body)  # type: ignore[arg-type]

    assert 400 <= response.status_code < 500
    assert sorted(response.json()) == ["detail", "error"]


def over_the_cap() -> bytes:
    return b'{"refresh_token": "' + b"A" * MAX_BODY_BYTES + b'"}'


def test_refresh_body_over_1_mib_gets_413(client: TestClient) -> None:
    response = client.post("/token", **raw(over_the_cap()))  # type: ignore[arg-type]

    assert (response.status_code, response.json()["error"]) == (413, "request_too_large")


def test_chunked_refresh_body_over_1_mib_gets_413(client: TestClient) -> None:
    """Without a Content-Length, the cap is counted as the body streams in."""
    response = client.post(
        "/token",
        content=iter([over_the_cap()]),
        headers={"Content-Type": "application/json"},
    )

    assert (response.status_code, response.json()["error"]) == (413, "request_too_large")


# -- another user's access token ---------------------------------------------------------


@pytest.fixture
def ada_and_bob(client: TestClient, clock: FrozenClock) -> tuple[Http, Pair, Pair]:
    http = Http(client, clock)
    return http, http.sign_in(ADA), http.sign_in(BOB)


def session_id(client: TestClient, pair: Pair) -> str:
    sessions = client.get("/sessions", headers=bearer(pair.access)).json()
    return str(next(s["id"] for s in sessions if s["current"]))


def test_another_users_access_token_cannot_end_my_session(
    ada_and_bob: tuple[Http, Pair, Pair],
) -> None:
    http, ada, bob = ada_and_bob
    ada_session = session_id(http.client, ada)

    response = http.client.delete(f"/sessions/{ada_session}", headers=bearer(bob.access))

    assert (response.status_code, http.present(ada.refresh)) == (404, "accepted")


def test_another_users_access_token_does_not_list_my_sessions(
    ada_and_bob: tuple[Http, Pair, Pair],
) -> None:
    http, ada, bob = ada_and_bob
    ada_session = session_id(http.client, ada)

    listed = http.client.get("/sessions", headers=bearer(bob.access)).json()

    assert ada_session not in [s["id"] for s in listed]
    assert len(listed) == 1


def test_another_users_sign_out_everywhere_leaves_my_sessions_alone(
    ada_and_bob: tuple[Http, Pair, Pair],
) -> None:
    http, ada, bob = ada_and_bob

    http.sign_out_everywhere(bob)

    assert (http.present(ada.refresh), http.present(bob.refresh)) == ("accepted", "invalid_grant")


def test_another_user_cannot_end_my_session_in_the_core(
    service: Service, clock: FrozenClock
) -> None:
    core = Core(service, clock)
    ada, bob = core.sign_in(ADA), core.sign_in(BOB)

    with pytest.raises(UnknownSession):
        service.parts.sessions.end_for_user(
            core.user_id(bob), SessionId(service.read(ada.access).session_id)
        )
    assert core.present(ada.refresh) == "accepted"
