"""What docs/asvs.md claims for ASVS 5.0 V3 (browsers), V11 (cryptography) and V16 (logs).

Each test proves one row's claim that no other test already proves: the headers every
answer carries, what the pages never do, the sizes of secrets and cookies, sealed data
that refuses tampering and nonces that never repeat, UTC times and unforgeable lines in the
logs, and what happens to an error nothing handled, in process and in a real `authgate
serve`.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import json
import logging
import os
import re
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from authgate.cli import main
from authgate.core import totp
from authgate.core.clock import FrozenClock
from authgate.core.keys import (
    ALGORITHMS,
    SEALED_NONCE_BYTES,
    generate_key,
    seal,
    sealed_prefix,
)
from authgate.core.links import new_link_token
from authgate.core.passkeys import CHALLENGE_BYTES
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.core.sessions import NONCE_BYTES, new_refresh_token, open_successor, seal_successor
from authgate.settings import Secret, Settings
from authgate.web.app import create_app
from authgate.web.docs import BUILD_PATH, docs
from authgate.web.headers import API_CONTENT_SECURITY_POLICY
from authgate.web.logs import LOGGERS, JsonLines, Scrubbed, TextLines, configure_logging
from authgate.web.page import CONTENT_SECURITY_POLICY, page
from authgate.web.routes import router
from helpers import (
    GENEROUS_THROTTLES,
    KEY_ENCRYPTION_KEY,
    PASSWORD,
    bearer,
    filled_from,
    sign_up_and_in,
)
from servers import Server
from smtp import Mailbox

SRC = Path(__file__).resolve().parent.parent / "src" / "authgate"
EMAIL = "ada@example.com"
HTTPS = "https://auth.example.com"
A_YEAR = 365 * 24 * 3600

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(sqlite_template: Path, tmp_path: Path, clock: FrozenClock) -> Iterator[MakeClient]:
    """A client of a new app on the test's SQLite file, its settings changed by `changes`."""
    url = filled_from(sqlite_template, f"sqlite:///{tmp_path / 'authgate.db'}", tmp_path)
    with contextlib.ExitStack() as stack:

        def make(*, raise_server_exceptions: bool = True, **changes: object) -> TestClient:
            settings = Settings(database_url=url, **GENEROUS_THROTTLES, **changes)  # type: ignore[arg-type]
            app = create_app(settings, clock=clock, preset=FAST_FOR_TESTS)
            client = TestClient(
                app, base_url=HTTPS, raise_server_exceptions=raise_server_exceptions
            )
            return stack.enter_context(client)

        yield make


@pytest.fixture
def https_client(make_client: MakeClient) -> TestClient:
    """An app that browsers reach at https://auth.example.com, with Ada signed up."""
    client = make_client(public_url=HTTPS)
    client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    return client


def access_token(client: TestClient) -> str:
    response = client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    token: str = response.json()["access_token"]
    return token


# -- V3.4: the header floor on every answer ------------------------------------------

API_ANSWERS = [
    pytest.param("GET", "/health", {}, 200, id="json"),
    pytest.param("GET", "/.well-known/jwks.json", {}, 200, id="jwks"),
    pytest.param("GET", "/openapi.json", {}, 200, id="schema"),
    pytest.param("GET", "/me", {}, 401, id="guard-refusal"),
    pytest.param(
        "POST",
        "/sign-in",
        {"json": {"email": EMAIL, "password": "wrong"}},
        401,
        id="failed-sign-in",
    ),
    pytest.param("POST", "/sign-up", {"content": b"{not json"}, 422, id="malformed"),
    pytest.param("GET", "/nowhere", {}, 404, id="not-found"),
    pytest.param("DELETE", "/health", {}, 405, id="wrong-method"),
    pytest.param("GET", f"{BUILD_PATH}/swagger-ui.css", {}, 200, id="docs-asset"),
]


def directives(policy: str) -> dict[str, str]:
    parsed = (d.strip().partition(" ") for d in policy.split(";"))
    return {name: value for name, _, value in parsed}


@pytest.mark.parametrize(("method", "path", "kwargs", "status"), API_ANSWERS)
def test_every_api_answer_carries_the_header_floor(
    https_client: TestClient, method: str, path: str, kwargs: dict[str, object], status: int
) -> None:
    response = https_client.request(method, path, **kwargs)  # type: ignore[arg-type]

    assert response.status_code == status
    headers = response.headers
    assert headers.get_list("x-content-type-options") == ["nosniff"]
    assert headers.get_list("content-security-policy") == [API_CONTENT_SECURITY_POLICY]
    policy = directives(API_CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == "'self'"  # an allowlist: this origin only
    assert policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in API_CONTENT_SECURITY_POLICY
    assert headers["referrer-policy"] == "no-referrer"


def test_a_successful_token_answer_and_a_direct_route_carry_it_too(
    https_client: TestClient,
) -> None:
    signed_in = https_client.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    guarded = https_client.get("/test", headers=bearer(signed_in.json()["access_token"]))

    for response in (signed_in, guarded):
        assert response.status_code == 200
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY
        assert response.headers["strict-transport-security"].startswith("max-age=")


PAGES = [
    pytest.param("/", id="account-page"),
    pytest.param("/account.js", id="account-script"),
    pytest.param("/email/verify?token=x", id="link-page"),
    pytest.param("/docs", id="docs"),
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_keep_their_own_policy_and_get_only_what_they_lack(
    https_client: TestClient, path: str
) -> None:
    response = https_client.get(path)

    assert response.status_code == 200
    policy = response.headers.get_list("content-security-policy")
    assert len(policy) == 1
    assert policy != [API_CONTENT_SECURITY_POLICY]
    assert "script-src 'self'" in policy[0]
    assert "frame-ancestors 'none'" in policy[0]
    assert "base-uri 'none'" in policy[0]
    assert response.headers.get_list("x-content-type-options") == ["nosniff"]
    assert response.headers.get_list("referrer-policy") == ["no-referrer"]
    assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_the_account_page_policy_is_its_own_strict_one(https_client: TestClient) -> None:
    assert https_client.get("/").headers["content-security-policy"] == CONTENT_SECURITY_POLICY


HSTS_ANSWERS = ["/", "/health", "/me", "/nowhere", "/docs", "/.well-known/jwks.json"]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"public_url": HTTPS}, id="https-public-url"),
        pytest.param({"issuer": HTTPS}, id="https-issuer-without-public-url"),
    ],
)
def test_hsts_for_a_year_with_subdomains_is_on_every_answer_when_browsers_come_over_https(
    make_client: MakeClient, changes: dict[str, str]
) -> None:
    client = make_client(**changes)

    for path in HSTS_ANSWERS:
        value = client.get(path).headers["strict-transport-security"]
        max_age = int(re.fullmatch(r"max-age=(\d+); includeSubDomains", value)[1])  # type: ignore[index]
        assert max_age >= A_YEAR


def test_no_hsts_on_http_localhost(make_client: MakeClient) -> None:
    client = make_client(cookie_secure=False)  # the default issuer, http://localhost:8000

    for path in HSTS_ANSWERS:
        response = client.get(path)
        assert "strict-transport-security" not in response.headers
        assert response.headers["x-content-type-options"] == "nosniff"


# -- V3.4.2 / V3.4.8 / V3.5.x / V3.7.x: what the origin never does ----------------


def test_no_answer_carries_cors_headers_and_no_preflight_is_answered(
    https_client: TestClient,
) -> None:
    token = access_token(https_client)
    origin = {"Origin": "https://evil.example"}
    answers = [
        https_client.get("/me", headers={**origin, **bearer(token)}),
        https_client.get("/.well-known/jwks.json", headers=origin),
        https_client.post("/sign-in", headers=origin, json={"email": EMAIL, "password": "x"}),
        https_client.options(
            "/sign-in",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token, content-type",
            },
        ),
    ]

    assert answers[-1].status_code == 405
    for response in answers:
        assert not [name for name in response.headers if name.startswith("access-control-")]


HTML_PAGES = [
    "/",
    "/docs",
    "/email/verify?token=x",
    "/password/reset?token=x",
    "/email/change/confirm?token=x",
    "/email/change/revert?token=x",
]


@pytest.mark.parametrize("path", HTML_PAGES)
def test_every_html_answer_has_its_own_browsing_context_group(
    https_client: TestClient, path: str
) -> None:
    response = https_client.get(path)

    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cross-origin-opener-policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/me", "/sessions", "/.well-known/jwks.json", "/health"])
def test_no_route_answers_jsonp(https_client: TestClient, path: str) -> None:
    token = access_token(https_client)

    response = https_client.get(path, params={"callback": "steal"}, headers=bearer(token))

    assert response.headers["content-type"].startswith("application/json")
    assert not response.text.startswith("steal")
    json.loads(response.text)


SCRIPTS = ["/account.js", "/link.js", "/docs/docs.js"]


@pytest.mark.parametrize("path", SCRIPTS)
def test_scripts_hold_no_ones_data_and_are_the_same_for_everyone(
    make_client: MakeClient, path: str
) -> None:
    client = make_client(public_url=HTTPS)
    anonymous = client.get(path).content
    client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
    signed_in = client.post(
        "/sign-in?transport=cookie", json={"email": EMAIL, "password": PASSWORD}
    )
    assert signed_in.status_code == 200
    assert client.cookies  # the next request carries the session's cookies

    response = client.get(path)

    assert response.content == anonymous
    assert EMAIL.encode() not in response.content
    assert "set-cookie" not in response.headers


def test_cookies_stay_far_below_the_4096_bytes_browsers_keep(make_client: MakeClient) -> None:
    client = make_client(public_url=HTTPS)
    email = f"{'a' * 64}@{'b' * 60}.{'c' * 60}.{'d' * 55}.example.com"  # 254 characters
    assert client.post("/sign-up", json={"email": email, "password": PASSWORD}).status_code == 201

    response = client.post("/sign-in?transport=cookie", json={"email": email, "password": PASSWORD})

    cookies = response.headers.get_list("set-cookie")
    names = {cookie.partition("=")[0] for cookie in cookies}
    assert names == {"__Host-authgate_access", "__Secure-authgate_refresh", "__Host-authgate_csrf"}
    for cookie in cookies:
        name_and_value = cookie.split(";", 1)[0]
        assert len(name_and_value.encode()) < 2048, name_and_value[:40]


def test_no_get_changes_anything_stored(https_client: TestClient, tmp_path: Path) -> None:
    """Sensitive actions are POST, PATCH or DELETE: every GET of the app, signed in, leaves
    every table as it was (link pages included: a mail scanner opening them spends nothing).
    """
    token = access_token(https_client)
    before = dump(tmp_path / "authgate.db")
    paths = get_paths()
    assert {"/me", "/sessions", "/mfa", "/passkeys", "/email/verify", "/"} <= set(paths)

    for path in paths:
        response = https_client.get(path, params={"token": "A" * 43}, headers=bearer(token))
        assert response.status_code < 500, path

    assert dump(tmp_path / "authgate.db") == before


def get_paths() -> list[str]:
    """Every GET route of the app without a path parameter: the API, the pages, the docs."""
    routes = [*router.routes, *page.routes, *docs.routes]
    found = {r.path for r in routes if isinstance(r, APIRoute) and "GET" in (r.methods or ())}
    return sorted(path for path in found | {"/openapi.json"} if "{" not in path)


def dump(database: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return list(connection.iterdump())


def test_redirects_never_leave_the_host_the_browser_asked(https_client: TestClient) -> None:
    paths = [path for path in get_paths() if path != "/"]
    redirects = 0
    for path in paths:
        for variant in (path, path + "/", "/" + path.lstrip("/")):
            response = https_client.get(variant, follow_redirects=False)
            if 300 <= response.status_code < 400:
                redirects += 1
                location = urlsplit(response.headers["location"])
                assert location.netloc in ("", "auth.example.com"), (variant, location)

    assert redirects > 0  # the trailing-slash redirects were seen, and checked


MESSAGE_LISTENER = re.compile(
    r"addEventListener\(\s*[\"']message[\"']|(?<![\w.])onmessage\s*=|window\.onmessage"
)


def test_no_page_script_listens_for_messages_from_other_windows(
    https_client: TestClient,
) -> None:
    bundle = f"{BUILD_PATH}/swagger-ui-bundle.js"
    for path in [*SCRIPTS, bundle]:
        script = https_client.get(path)
        assert script.status_code == 200
        assert not MESSAGE_LISTENER.search(script.text), path


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_embed_no_plugin_and_their_policy_allows_none(
    https_client: TestClient, path: str
) -> None:
    response = https_client.get(path)
    elements = Elements()
    elements.feed(response.text)

    assert not elements.tags & {"object", "embed", "applet"}
    policy = directives(response.headers["content-security-policy"])
    assert policy.get("object-src", policy["default-src"]) == "'none'"


# -- V11: random values, sealing, hashes ------------------------------------------------


def decoded_bits(text: str) -> int:
    return len(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) * 8


def test_every_secret_value_has_at_least_128_random_bits_and_never_repeats(
    https_client: TestClient,
) -> None:
    token = access_token(https_client)
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["jti"]
    refresh_tokens = {new_refresh_token() for _ in range(1000)}
    link_tokens = {new_link_token() for _ in range(1000)}
    codes = totp.new_recovery_codes()

    assert len(refresh_tokens) == len(link_tokens) == 1000
    assert {decoded_bits(t) for t in refresh_tokens} == {256}
    assert {decoded_bits(t) for t in link_tokens} == {256}
    assert decoded_bits(jti) == 128
    assert CHALLENGE_BYTES * 8 == 256
    assert len(set(codes)) == 10
    assert {len(base64.b32decode(c.replace("-", "").upper())) * 8 for c in codes} == {120}
    assert len(base64.b32decode(totp.new_secret())) * 8 == 160


def test_no_code_draws_from_a_non_cryptographic_generator() -> None:
    """Secrets come from `secrets` and `os.urandom` only: nothing imports `random`."""
    imported = set()
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {(a.name, path.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add((node.module, path.name))

    assert not [(name, where) for name, where in imported if name.split(".")[0] == "random"]
    assert ("secrets", "sessions.py") in imported


def flipped(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


KEK = KEY_ENCRYPTION_KEY  # random, as startup requires of AUTHGATE_KEY_ENCRYPTION_KEY


def test_a_sealed_successor_that_was_tampered_with_or_moved_does_not_open() -> None:
    presented, successor = new_refresh_token(), new_refresh_token()
    sealed = seal_successor(successor, presented=presented)

    for at in (0, NONCE_BYTES, len(sealed) // 2, len(sealed) - 1):  # nonce, body, tag
        assert open_successor(flipped(sealed, at), presented=presented) is None
    assert open_successor(sealed, presented=new_refresh_token()) is None
    assert open_successor(sealed, presented=presented) == successor


def test_sealing_the_same_value_twice_never_repeats_a_nonce() -> None:
    """Both AES-GCM sealings draw a fresh 96-bit nonce every time: the grace window's
    successors, and data at rest (`ag1.<key id>.` then nonce, ciphertext and tag)."""
    presented, successor = new_refresh_token(), new_refresh_token()
    prefix = sealed_prefix(KEK)
    at_rest = [seal(b"same", KEK) for _ in range(200)]

    successor_nonces = {
        seal_successor(successor, presented=presented)[:NONCE_BYTES] for _ in range(200)
    }
    at_rest_nonces = {
        base64.urlsafe_b64decode(sealed.removeprefix(prefix))[:SEALED_NONCE_BYTES]
        for sealed in at_rest
    }

    assert all(sealed.startswith(prefix) for sealed in at_rest)
    assert NONCE_BYTES == SEALED_NONCE_BYTES == 12
    assert len(successor_nonces) == len(at_rest_nonces) == 200


def test_the_only_ciphers_are_authenticated_ones() -> None:
    """No block mode, cipher or padding of `cryptography` is used by hand: only AES-GCM
    (`aead`), and Fernet to read values older versions sealed, so no ECB, no
    unauthenticated CBC, no RSA encryption."""
    imported: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cryptography"):
                imported.setdefault(str(node.module), set()).update(a.name for a in node.names)

    ciphers = {m: names for m, names in imported.items() if ".ciphers" in m or "padding" in m}
    assert ciphers == {"cryptography.hazmat.primitives.ciphers.aead": {"AESGCM"}}
    assert not any("asymmetric" in module for module in imported)
    assert imported["cryptography.fernet"] == {"Fernet", "InvalidToken"}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_signing_algorithm_hashes_with_at_least_256_bits(alg: str) -> None:
    from joserfc.jws import JWSRegistry

    model = JWSRegistry.algorithms[alg]
    hash_alg = getattr(model, "hash_alg", None)
    if hash_alg is None:  # EdDSA: Ed25519 hashes with SHA-512 inside the scheme (RFC 8032)
        assert alg == "EdDSA"
        assert generate_key("EdDSA", now=FrozenClock()()).jwk.as_dict()["crv"] == "Ed25519"
        return
    digest_size = getattr(hash_alg, "digest_size", None) or hash_alg().digest_size
    assert digest_size * 8 >= 256


# -- V16.2 / V16.4: times, destinations and lines of the logs ------------------------


@pytest.fixture
def restored_loggers() -> Iterator[None]:
    saved = {n: (logging.getLogger(n).handlers, logging.getLogger(n).propagate) for n in LOGGERS}
    yield
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers = handlers
        logging.getLogger(name).propagate = propagate


@pytest.fixture
def far_from_utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's local time zone five hours west of UTC, for the test's duration."""
    monkeypatch.setenv("TZ", "EST+5")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


AT_2030 = 1893456000.25  # 2030-01-01T00:00:00.250Z


def record(message: str, *args: object) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "authgate", "levelno": 30, "levelname": "WARNING", "msg": message}
    )
    made.args = args or None
    made.created, made.msecs = AT_2030, 250.0
    return made


def test_text_and_json_log_lines_carry_utc_times_whatever_the_local_zone(
    far_from_utc: None,
) -> None:
    assert time.localtime(AT_2030).tm_hour == 19  # the zone is in force

    text = TextLines().format(record("signing with key %s", "k1"))
    entry = json.loads(JsonLines().format(record("signing with key %s", "k1")))

    assert text == "2030-01-01T00:00:00.250Z WARNING authgate: signing with key k1"
    assert entry["time"] == "2030-01-01T00:00:00.250+00:00"


def test_audit_times_are_utc(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    far_from_utc: None,
) -> None:
    url = f"sqlite:///{tmp_path / 'authgate.db'}"
    with TestClient(create_app(Settings(database_url=url), preset=FAST_FOR_TESTS)) as client:
        sign_up_and_in(client)
    for name in [name for name in os.environ if name.startswith("AUTHGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", url)

    assert main(["audit", "--json"]) == 0

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["kind"] for e in events] == ["sign_in", "sign_up"]
    assert all(e["at"].endswith("+00:00") for e in events)


FORGED = "x\n2030-01-01T00:00:00.000Z CRITICAL authgate: forged\r\x1b[2K\u2028"


@pytest.mark.parametrize("formatter", [TextLines(), JsonLines()], ids=["text", "json"])
def test_a_logged_value_cannot_start_a_line_of_its_own(formatter: logging.Formatter) -> None:
    made = record("mail failed (%s)", FORGED)
    Scrubbed().filter(made)

    line = formatter.format(made)

    assert "\n" not in line
    assert "\r" not in line
    assert "\x1b" not in line
    assert "\u2028" not in line or isinstance(formatter, JsonLines)  # JSON: one per "\n"
    if isinstance(formatter, JsonLines):
        assert json.loads(line)["message"] == f"mail failed ({FORGED})"


def test_a_traceback_follows_its_record_indented_and_scrubbed() -> None:
    made = record("catch-up poll failed")
    try:
        raise RuntimeError(
            f"boom\n2030-01-01T00:00:00.000Z ERROR authgate: forged token={'A' * 43}"
        )
    except RuntimeError:
        made.exc_info = sys.exc_info()

    lines = TextLines().format(made).splitlines()

    assert lines[0] == "2030-01-01T00:00:00.250Z WARNING authgate: catch-up poll failed"
    assert all(line.startswith("    ") for line in lines[1:])
    assert "A" * 43 not in "\n".join(lines)


@pytest.mark.parametrize("format", ["text", "json"])
def test_logs_go_to_stderr_and_nowhere_else(restored_loggers: None, format: str) -> None:
    logging.getLogger("uvicorn.access").handlers = [logging.NullHandler()]  # --access-log

    configure_logging(format=format)  # type: ignore[arg-type]

    for name in LOGGERS:
        handlers = logging.getLogger(name).handlers
        assert [type(h) for h in handlers] == [logging.StreamHandler], name
        assert handlers[0].stream is sys.stderr  # type: ignore[attr-defined]
        assert not logging.getLogger(name).propagate


def test_the_audit_log_is_only_ever_appended_to_and_no_route_reads_it() -> None:
    changes = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"update", "delete"}
                and any(isinstance(a, ast.Name) and a.id == "audit_events" for a in node.args)
            ):
                changes.append(f"{path.name}:{node.lineno}")
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?i)\b(update|delete\s+from)\s+audit_events\b", text), path
        if SRC / "web" in path.parents:  # no route reads or writes the audit log
            names = {n.attr for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Attribute)}
            assert not names & {"audit", "audit_events"}, path

    assert changes == []


# -- V16.3.4 / V16.5: errors nothing handled, failures of other services ----------------


def test_an_unexpected_error_is_answered_with_a_generic_500(
    make_client: MakeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(public_url=HTTPS, raise_server_exceptions=False)
    token = sign_up_and_in(client)["access_token"]
    leak = f"SELECT password_hash FROM users WHERE token = '{token}'"  # noqa: S608 - bait

    def broken(*args: object) -> None:
        raise RuntimeError(leak)

    monkeypatch.setattr(client.app.state.service, "user", broken)  # type: ignore[attr-defined]

    response = client.get("/me", headers=bearer(token))

    assert response.status_code == 500
    assert response.json()["error"] == "server_error"
    for secret in ("SELECT", "password_hash", token, "Traceback", "RuntimeError"):
        assert secret not in response.text
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-security-policy"] == API_CONTENT_SECURITY_POLICY
    assert response.headers["strict-transport-security"].startswith("max-age=31536000")
    assert client.get("/health").status_code == 200


def test_a_tls_failure_towards_the_mail_server_is_logged(
    make_client: MakeClient, mailbox: Mailbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The mail server speaks plain SMTP where implicit TLS (smtps) was asked for."""
    smtps = Secret(f"smtps://127.0.0.1:{mailbox.port}")
    with caplog.at_level(logging.INFO, logger="authgate"):
        client = make_client(smtp_url=smtps, public_url="http://localhost:8000")
        signed_up = client.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})
        assert signed_up.status_code == 201
        deadline = time.monotonic() + 20
        while "failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)

    failure = next(r for r in caplog.records if "failed" in r.getMessage())
    assert failure.name.startswith("authgate")
    assert "SSL" in failure.getMessage()
    assert "retrying" in failure.getMessage()
    assert mailbox.messages == []


@pytest.mark.e2e
def test_a_real_server_logs_an_unexpected_error_answers_generically_and_keeps_serving(
    tmp_path: Path,
) -> None:
    """A row the database cannot read back (a corrupt timestamp) fails GET /me."""
    with Server(tmp_path, {"AUTHGATE_LOG_FORMAT": "text"}) as server:
        body = {"email": EMAIL, "password": PASSWORD}
        httpx.post(f"{server.url}/sign-up", json=body)
        token = httpx.post(f"{server.url}/sign-in", json=body).json()["access_token"]
        with contextlib.closing(sqlite3.connect(tmp_path / "authgate.db")) as database:
            database.execute("UPDATE users SET created_at = 'corrupt: not a time'")
            database.commit()

        broken = httpx.get(f"{server.url}/me", headers=bearer(token))
        alive = httpx.get(f"{server.url}/test", headers=bearer(token))
        again = httpx.get(f"{server.url}/me", headers=bearer(token))

    assert broken.status_code == again.status_code == 500
    assert broken.json()["error"] == "server_error"
    assert "corrupt" not in broken.text
    assert broken.headers["x-content-type-options"] == "nosniff"
    assert alive.status_code == 200
    log = server.log
    assert "Exception in ASGI application" in log
    assert "corrupt: not a time" in log  # the cause, for the operator
    assert token not in log
    error_line = next(line for line in log.splitlines() if "Exception in ASGI" in line)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z ERROR uvicorn.error: ", error_line)
