"""The cookie transport for browsers: httpOnly token cookies, CSRF checks, and the account page.

A "browser" here is the in-process client on https://testserver, so that its cookie jar
keeps and sends Secure cookies and honours their paths as a browser would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from html.parser import HTMLParser

import httpx2
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.core.clock import FrozenClock
from authgate.core.passwords import FAST_FOR_TESTS
from authgate.errors import ConfigurationError
from authgate.settings import Settings
from authgate.web.app import create_app
from authgate.web.page import CONTENT_SECURITY_POLICY
from helpers import PASSWORD, bearer, sign_up_and_in

from .helpers import companion, is_error_body, jwt_claims
from .test_guarded_routes import without_guard_layer

EMAIL = "ada@example.com"
ACCESS = "__Host-authgate_access"
REFRESH = "__Secure-authgate_refresh"
CSRF = "__Host-authgate_csrf"
ORIGIN = "https://testserver"

MakeBrowser = Callable[..., TestClient]


def set_cookies(response: httpx2.Response) -> dict[str, dict[str, str]]:
    """Each Set-Cookie of a response: name -> {"value": ..., attribute (lower case): value}.

    The refresh-token cookie comes twice, for /token and for the sign-in routes: the second
    is under "<name> at <path>".
    """
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        name, _, value = pair.partition("=")
        cookie = {"value": value}
        for attribute in attributes:
            key, _, setting = attribute.partition("=")
            cookie[key.lower()] = setting.lower()
        found[f"{name} at {cookie['path']}" if name in found else name] = cookie
    return found


def refresh_cookie(browser: TestClient) -> str:
    """The refresh token a browser sends to /token (the sign-in routes get the same one)."""
    found = browser.cookies.get(REFRESH, path="/token")
    assert found is not None
    return found


def csrf_header(browser: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": browser.cookies[CSRF]}


def cookie_header(**cookies: str) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


def sign_in_by_cookie(browser: TestClient, email: str = EMAIL) -> httpx2.Response:
    browser.post("/sign-up", json={"email": email, "password": PASSWORD})
    response = browser.post(
        "/sign-in?transport=cookie", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return response


@pytest.fixture
def make_browser(app: FastAPI) -> Iterator[MakeBrowser]:
    """Browsers on the test's app (the first one runs its lifespan), each with its own jar."""
    opened: list[TestClient] = []

    def make() -> TestClient:
        if not opened:
            browser = TestClient(app, base_url=ORIGIN)
            browser.__enter__()
        else:
            browser = companion(opened[0], base_url=ORIGIN)
        opened.append(browser)
        return browser

    yield make
    for browser in reversed(opened[1:]):
        browser.close()
    if opened:
        opened[0].__exit__(None, None, None)


@pytest.fixture(scope="module")
def anonymous(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A browser with no session, on one SQLite app shared by the rows that change nothing."""
    database = tmp_path_factory.mktemp("cookies") / "authgate.db"
    app = create_app(Settings(database_url=f"sqlite:///{database}"), preset=FAST_FOR_TESTS)
    with TestClient(app, base_url=ORIGIN) as browser:
        yield browser


@pytest.fixture
def browser(make_browser: MakeBrowser) -> TestClient:
    """A browser signed in as Ada in cookie transport."""
    signed_in = make_browser()
    sign_in_by_cookie(signed_in)
    return signed_in


@pytest.fixture
def stranger(make_browser: MakeBrowser, browser: TestClient) -> TestClient:
    """Another browser, with no cookies, on the same app."""
    return make_browser()


# -- signing in and the cookies ------------------------------------------------


def test_sign_in_in_cookie_transport_answers_without_tokens(make_browser: MakeBrowser) -> None:
    response = sign_in_by_cookie(make_browser())

    assert response.json() == {"expires_in": 900}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param(
            ACCESS,
            {"httponly": "", "secure": "", "samesite": "lax", "path": "/", "max-age": "900"},
            id="access",
        ),
        pytest.param(
            REFRESH,
            {
                "httponly": "",
                "secure": "",
                "samesite": "strict",
                "path": "/token",
                "max-age": "2592000",
            },
            id="refresh",
        ),
        pytest.param(
            f"{REFRESH} at /sign-in",
            {
                "httponly": "",
                "secure": "",
                "samesite": "strict",
                "path": "/sign-in",
                "max-age": "2592000",
            },
            id="refresh-for-the-sign-in-routes",
        ),
        pytest.param(
            CSRF,
            {"secure": "", "samesite": "lax", "path": "/", "max-age": "2592000"},
            id="csrf-readable-by-script",
        ),
    ],
)
def test_sign_in_in_cookie_transport_sets_each_cookie_with_these_attributes(
    make_browser: MakeBrowser, name: str, expected: dict[str, str]
) -> None:
    cookie = set_cookies(sign_in_by_cookie(make_browser()))[name]

    assert {k: v for k, v in cookie.items() if k != "value"} == expected


def test_the_cookies_hold_the_tokens_the_body_would_have(browser: TestClient) -> None:
    claims = jwt_claims(browser.cookies[ACCESS])

    assert claims["email"] == EMAIL
    assert len(refresh_cookie(browser)) == 43
    assert browser.cookies.get(REFRESH, path="/sign-in") == refresh_cookie(browser)
    assert browser.cookies[CSRF] not in {browser.cookies[ACCESS], refresh_cookie(browser)}


def test_same_site_strict_is_configurable_for_the_access_and_csrf_cookies(
    settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(dataclasses.replace(settings, cookie_samesite="strict"), clock=clock)
    with TestClient(app, base_url=ORIGIN) as strict:
        cookies = set_cookies(sign_in_by_cookie(strict))

    assert {name: cookie["samesite"] for name, cookie in cookies.items()} == {
        ACCESS: "strict",
        REFRESH: "strict",
        f"{REFRESH} at /sign-in": "strict",
        CSRF: "strict",
    }


def test_without_secure_the_cookies_have_plain_names_and_no_secure_attribute(
    settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(dataclasses.replace(settings, cookie_secure=False), clock=clock)
    with TestClient(app) as local:  # http://testserver
        cookies = set_cookies(sign_in_by_cookie(local))
        me = local.get("/me")

    assert set(cookies) == {
        "authgate_access",
        "authgate_refresh",
        "authgate_refresh at /sign-in",
        "authgate_csrf",
    }
    assert not any("secure" in cookie for cookie in cookies.values())
    assert me.status_code == 200


def test_body_transport_sets_no_cookie_and_answers_with_the_tokens(
    make_browser: MakeBrowser,
) -> None:
    browser = make_browser()
    browser.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})

    response = browser.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})

    assert set(response.json()) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert "set-cookie" not in response.headers


def test_a_refused_sign_in_sets_no_cookie(make_browser: MakeBrowser) -> None:
    browser = make_browser()
    browser.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})

    response = browser.post(
        "/sign-in?transport=cookie", json={"email": EMAIL, "password": "not the password!"}
    )

    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_an_unknown_transport_is_a_422(make_browser: MakeBrowser) -> None:
    response = make_browser().post(
        "/sign-in?transport=localStorage", json={"email": EMAIL, "password": PASSWORD}
    )

    assert response.status_code == 422
    assert is_error_body(response.json())


# -- guarded routes read the access-token cookie ------------------------------------


@pytest.mark.parametrize("path", ["/me", "/sessions", "/test"])
def test_guarded_routes_accept_the_access_token_cookie(browser: TestClient, path: str) -> None:
    assert browser.get(path).status_code == 200


def test_guarded_routes_accept_the_cookie_through_their_fastapi_routes_too(
    settings: Settings, clock: FrozenClock
) -> None:
    app = without_guard_layer(create_app(settings, clock=clock))
    with TestClient(app, base_url=ORIGIN) as routed:
        sign_in_by_cookie(routed)

        assert routed.get("/test").text == "Token Verified, Authorizing User..."


def test_sessions_by_cookie_marks_this_browsers_session_as_current(browser: TestClient) -> None:
    listed = browser.get("/sessions").json()

    assert [s["id"] for s in listed if s["current"]] == [jwt_claims(browser.cookies[ACCESS])["sid"]]


@pytest.mark.parametrize("path", ["/me", "/test"])
@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer not-a-token", id="invalid-bearer"),
        pytest.param("Basic YWRhOnBhc3N3b3Jk", id="basic-scheme"),
    ],
)
def test_an_authorization_header_wins_over_the_cookie(
    browser: TestClient, path: str, authorization: str
) -> None:
    """Header first, cookie only when no Authorization header is sent at all."""
    assert browser.get(path, headers={"Authorization": authorization}).status_code == 401


# -- refresh through the cookie -------------------------------------------------


def test_refresh_by_cookie_answers_without_tokens(browser: TestClient) -> None:
    response = browser.post("/token", headers=csrf_header(browser))

    assert response.status_code == 200
    assert response.json() == {"expires_in": 900}
    assert response.headers["Cache-Control"] == "no-store"


def test_refresh_by_cookie_rotates_and_sets_new_token_cookies(browser: TestClient) -> None:
    before = {ACCESS: browser.cookies[ACCESS], REFRESH: refresh_cookie(browser)}
    before[CSRF] = browser.cookies[CSRF]

    response = browser.post("/token", headers=csrf_header(browser))

    cookies = set_cookies(response)
    assert cookies[ACCESS]["value"] != before[ACCESS]
    assert cookies[REFRESH]["value"] != before[REFRESH]
    assert cookies[REFRESH]["path"] == "/token"
    assert cookies[f"{REFRESH} at /sign-in"]["value"] == cookies[REFRESH]["value"]
    # Bound to the session, not to a token: the page's copy stays valid across refreshes.
    assert cookies[CSRF]["value"] == before[CSRF]


def test_refresh_by_cookie_keeps_the_session(browser: TestClient) -> None:
    session = jwt_claims(browser.cookies[ACCESS])["sid"]

    browser.post("/token", headers=csrf_header(browser))

    assert jwt_claims(browser.cookies[ACCESS])["sid"] == session
    assert browser.get("/me").status_code == 200


def test_refresh_by_cookie_twice_in_a_row_works(browser: TestClient) -> None:
    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200
    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200


def test_refresh_by_cookie_detects_reuse_and_ends_the_session(
    browser: TestClient, stranger: TestClient, clock: FrozenClock
) -> None:
    stolen = refresh_cookie(browser)
    browser.post("/token", headers=csrf_header(browser))
    clock.advance(11)  # past the 10-second grace window

    replay = stranger.post(
        "/token",
        headers={
            "Cookie": cookie_header(**{REFRESH: stolen, CSRF: browser.cookies[CSRF]}),
            **csrf_header(browser),
        },
    )

    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_grant"
    assert browser.get("/me").status_code == 401
    assert browser.post("/token", headers=csrf_header(browser)).status_code == 401


def test_refresh_prefers_a_token_in_the_body_and_answers_in_the_body(
    browser: TestClient, stranger: TestClient
) -> None:
    body = sign_up_and_in(stranger, "bob@example.com")

    response = browser.post("/token", json={"refresh_token": body["refresh_token"]})

    assert response.status_code == 200
    assert jwt_claims(response.json()["access_token"])["email"] == "bob@example.com"
    assert "set-cookie" not in response.headers


def test_refresh_with_a_body_token_can_answer_in_cookie_transport(
    make_browser: MakeBrowser,
) -> None:
    body = sign_up_and_in(make_browser())
    browser = make_browser()

    response = browser.post(
        "/token?transport=cookie", json={"refresh_token": body["refresh_token"]}
    )

    assert response.json() == {"expires_in": 900}
    assert browser.get("/me").status_code == 200


def test_refresh_with_neither_body_token_nor_cookie_is_a_422(make_browser: MakeBrowser) -> None:
    response = make_browser().post("/token", headers={"X-CSRF-Token": "x"})

    assert response.status_code == 422
    assert is_error_body(response.json())


# -- sign-out through the cookie ------------------------------------------------


def test_sign_out_by_cookie_answers_204_and_clears_every_cookie(browser: TestClient) -> None:
    response = browser.post("/sign-out", headers=csrf_header(browser))

    assert response.status_code == 204
    cleared = set_cookies(response)
    assert {name: (c["max-age"], c["path"]) for name, c in cleared.items()} == {
        ACCESS: ("0", "/"),
        REFRESH: ("0", "/token"),
        f"{REFRESH} at /sign-in": ("0", "/sign-in"),
        CSRF: ("0", "/"),
    }
    assert dict(browser.cookies) == {}


def test_sign_out_by_cookie_ends_the_session(browser: TestClient, stranger: TestClient) -> None:
    kept = {ACCESS: browser.cookies[ACCESS], REFRESH: refresh_cookie(browser)}
    kept[CSRF] = browser.cookies[CSRF]
    browser.post("/sign-out", headers=csrf_header(browser))
    replayed = {"Cookie": cookie_header(**kept), "X-CSRF-Token": kept[CSRF]}

    assert stranger.get("/me", headers=replayed).status_code == 401
    assert stranger.post("/token", headers=replayed).status_code == 401


def test_sign_out_without_any_credential_is_still_a_401(make_browser: MakeBrowser) -> None:
    response = make_browser().post("/sign-out")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


# -- a new session token on re-authentication and on signing in again (ASVS V7.2.4) ----


def browser_tokens(browser: TestClient) -> dict[str, str]:
    """The access, refresh and CSRF tokens a browser holds now."""
    return {
        ACCESS: browser.cookies[ACCESS],
        REFRESH: refresh_cookie(browser),
        CSRF: browser.cookies[CSRF],
    }


def test_re_authentication_by_cookie_sets_new_cookies_as_a_refresh_does(
    browser: TestClient,
) -> None:
    old = browser_tokens(browser)

    response = browser.post(
        "/reauthenticate", headers=csrf_header(browser), json={"password": PASSWORD}
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"expires_in": 900}
    cookies = set_cookies(response)
    assert cookies[REFRESH]["value"] != old[REFRESH]
    assert cookies[ACCESS]["value"] != old[ACCESS]
    assert jwt_claims(cookies[ACCESS]["value"])["sid"] == jwt_claims(old[ACCESS])["sid"]
    assert cookies[CSRF]["value"] == old[CSRF]  # bound to the session, which goes on
    refreshed = set_cookies(browser.post("/token", headers=csrf_header(browser)))
    attributes = {name: {k: v for k, v in c.items() if k != "value"} for name, c in cookies.items()}
    assert attributes == {
        name: {k: v for k, v in c.items() if k != "value"} for name, c in refreshed.items()
    }


def test_re_authentication_by_cookie_spends_the_old_refresh_token(
    browser: TestClient, stranger: TestClient
) -> None:
    old = browser_tokens(browser)
    browser.post("/reauthenticate", headers=csrf_header(browser), json={"password": PASSWORD})

    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200
    replayed = stranger.post(
        "/token",
        headers={
            "Cookie": cookie_header(**{REFRESH: old[REFRESH], CSRF: old[CSRF]}),
            **csrf_header(browser),
        },
    )
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_grant"


def test_signing_in_again_ends_the_session_the_browsers_cookies_held(
    browser: TestClient, stranger: TestClient, app: FastAPI
) -> None:
    """The new session replaces it: its tokens stop at once, and the audit log says it was
    signed out."""
    old = browser_tokens(browser)

    again = browser.post("/sign-in?transport=cookie", json={"email": EMAIL, "password": PASSWORD})

    assert again.status_code == 200
    replayed = {"Cookie": cookie_header(**old), "X-CSRF-Token": old[CSRF]}
    assert stranger.post("/token", headers=replayed).status_code == 401
    assert stranger.get("/me", headers=replayed).status_code == 401
    assert jwt_claims(browser.cookies[ACCESS])["sid"] != jwt_claims(old[ACCESS])["sid"]
    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200
    events, _ = app.state.service.audit_events(limit=10)
    ended = [e.kind for e in events if e.session_id == jwt_claims(old[ACCESS])["sid"]]
    assert ended[0] == "signed_out"


@pytest.mark.parametrize(
    ("query", "password"),
    [
        pytest.param("?transport=cookie", "not the password!", id="refused-sign-in"),
        pytest.param("", PASSWORD, id="sign-in-in-body-transport"),
    ],
)
def test_a_sign_in_that_sets_no_cookies_leaves_the_browsers_session_alone(
    browser: TestClient, query: str, password: str
) -> None:
    browser.post(f"/sign-in{query}", json={"email": EMAIL, "password": password})

    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200


# -- CSRF -------------------------------------------------------------------------


def _no_header(victim: TestClient, other: TestClient) -> dict[str, str]:
    return {}


def _wrong_token(victim: TestClient, other: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": "A" * 43}


def _header_without_cookie(victim: TestClient, other: TestClient) -> dict[str, str]:
    """The right value in the header, but no CSRF cookie beside the session's cookies."""
    cookies = cookie_header(**{ACCESS: victim.cookies[ACCESS], REFRESH: refresh_cookie(victim)})
    return {"Cookie": cookies, **csrf_header(victim)}


def _token_of_another_session(victim: TestClient, other: TestClient) -> dict[str, str]:
    """The attacker's own valid CSRF token, planted as the victim's cookie and sent."""
    planted = {ACCESS: victim.cookies[ACCESS], REFRESH: refresh_cookie(victim)}
    planted[CSRF] = other.cookies[CSRF]
    return {"Cookie": cookie_header(**planted), **csrf_header(other)}


def _cross_site(victim: TestClient, other: TestClient) -> dict[str, str]:
    return {"Sec-Fetch-Site": "cross-site", **csrf_header(victim)}


def _same_site_other_origin(victim: TestClient, other: TestClient) -> dict[str, str]:
    return {"Sec-Fetch-Site": "same-site", **csrf_header(victim)}


def _foreign_origin(victim: TestClient, other: TestClient) -> dict[str, str]:
    """A browser too old for Fetch Metadata still sends Origin."""
    return {"Origin": "https://evil.example", **csrf_header(victim)}


FORGERIES = [
    pytest.param(_no_header, id="no-header"),
    pytest.param(_wrong_token, id="wrong-token"),
    pytest.param(_header_without_cookie, id="header-without-cookie"),
    pytest.param(_token_of_another_session, id="token-of-another-session"),
    pytest.param(_cross_site, id="sec-fetch-site-cross-site"),
    pytest.param(_same_site_other_origin, id="sec-fetch-site-same-site"),
    pytest.param(_foreign_origin, id="foreign-origin"),
]
UNSAFE = [
    pytest.param("POST", "/token", id="refresh"),
    pytest.param("POST", "/sign-out", id="sign-out"),
    pytest.param("POST", "/sign-out-all", id="sign-out-all"),
    pytest.param("DELETE", "/sessions/{sid}", id="end-session"),
]
Forgery = Callable[[TestClient, TestClient], dict[str, str]]


@pytest.fixture
def attacker(make_browser: MakeBrowser, browser: TestClient) -> TestClient:
    """Bob, signed in by cookie in his own browser: the source of a valid CSRF token."""
    bob = make_browser()
    sign_in_by_cookie(bob, "bob@example.com")
    return bob


# Refused in the ASGI layer before any store is asked: one database is enough.
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize(("method", "path"), UNSAFE)
@pytest.mark.parametrize("forge", FORGERIES)
def test_a_cookie_authenticated_unsafe_request_without_its_csrf_token_is_a_403(
    browser: TestClient, attacker: TestClient, method: str, path: str, forge: Forgery
) -> None:
    sid = jwt_claims(browser.cookies[ACCESS])["sid"]

    response = browser.request(method, path.format(sid=sid), headers=forge(browser, attacker))

    assert response.status_code == 403
    assert response.json()["error"] == "csrf_failed"
    assert is_error_body(response.json())
    assert "set-cookie" not in response.headers


@pytest.mark.parametrize(("method", "path"), UNSAFE)
def test_a_refused_csrf_attempt_changes_nothing(
    browser: TestClient, method: str, path: str
) -> None:
    sid = jwt_claims(browser.cookies[ACCESS])["sid"]
    browser.request(method, path.format(sid=sid))

    assert browser.get("/me").status_code == 200
    assert browser.post("/token", headers=csrf_header(browser)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        pytest.param("POST", "/token", 200, id="refresh"),
        pytest.param("POST", "/sign-out", 204, id="sign-out"),
        pytest.param("POST", "/sign-out-all", 204, id="sign-out-all"),
        pytest.param("DELETE", "/sessions/{sid}", 204, id="end-session"),
    ],
)
@pytest.mark.parametrize(
    "site",
    [
        pytest.param({}, id="not-a-browser"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, id="same-origin"),
        pytest.param({"Origin": ORIGIN}, id="own-origin"),
    ],
)
def test_the_same_requests_with_the_csrf_token_from_our_origin_succeed(
    browser: TestClient, method: str, path: str, status: int, site: dict[str, str]
) -> None:
    sid = jwt_claims(browser.cookies[ACCESS])["sid"]
    headers = {**site, **csrf_header(browser)}

    assert browser.request(method, path.format(sid=sid), headers=headers).status_code == status


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("POST", "/sign-out-all", id="sign-out-all"),
        pytest.param("DELETE", "/sessions/{sid}", id="end-session"),
        pytest.param("POST", "/sign-out", id="sign-out"),
    ],
)
def test_bearer_requests_need_no_csrf_token_even_beside_cookies(
    browser: TestClient, method: str, path: str
) -> None:
    """A browser never adds an Authorization header by itself, so it proves intent."""
    token = sign_up_and_in(browser, "bob@example.com")["access_token"]
    sid = jwt_claims(token)["sid"]

    response = browser.request(method, path.format(sid=sid), headers=bearer(token))

    assert response.status_code == 204


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        pytest.param({"Sec-Fetch-Site": "cross-site"}, 403, id="cross-site"),
        pytest.param({"Sec-Fetch-Site": "same-site"}, 403, id="same-site"),
        pytest.param({"Origin": "https://evil.example"}, 403, id="foreign-origin"),
        pytest.param({"Origin": "null"}, 403, id="opaque-origin"),
        pytest.param({"Sec-Fetch-Site": "same-origin"}, 200, id="same-origin"),
        pytest.param({"Sec-Fetch-Site": "none"}, 200, id="typed-by-the-user"),
        pytest.param({"Origin": ORIGIN}, 200, id="own-origin"),
        pytest.param({}, 200, id="not-a-browser"),
    ],
)
def test_sign_in_in_cookie_transport_only_from_our_origin(
    make_browser: MakeBrowser, headers: dict[str, str], status: int
) -> None:
    """Login CSRF: another site must not sign the victim's browser into its account."""
    browser = make_browser()
    browser.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})

    response = browser.post(
        "/sign-in?transport=cookie",
        data={"username": EMAIL, "password": PASSWORD},  # what a cross-site form would send
        headers=headers,
    )

    assert response.status_code == status
    assert ("set-cookie" in response.headers) == (status == 200)


def test_sign_in_in_body_transport_ignores_fetch_metadata(make_browser: MakeBrowser) -> None:
    browser = make_browser()
    browser.post("/sign-up", json={"email": EMAIL, "password": PASSWORD})

    response = browser.post(
        "/sign-in",
        json={"email": EMAIL, "password": PASSWORD},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 200


def test_a_cookie_transport_refresh_with_a_body_token_is_from_our_origin_only(
    make_browser: MakeBrowser,
) -> None:
    refresh_token = sign_up_and_in(make_browser())["refresh_token"]

    response = make_browser().post(
        "/token?transport=cookie",
        json={"refresh_token": refresh_token},
        headers={"Sec-Fetch-Site": "cross-site"},
    )

    assert response.status_code == 403


# -- garbage never reaches a 5xx -----------------------------------------------------

GARBAGE = [
    pytest.param(b"garbage", id="word"),
    pytest.param(b"", id="empty"),
    pytest.param(b"a.b.c", id="three-dots"),
    pytest.param(b'"quoted \\"value\\""', id="quoted"),
    pytest.param(b"\\012\\377", id="octal-escapes"),
    pytest.param("\u00e9t\u00e9".encode("latin-1"), id="latin-1"),
    pytest.param("\u2603".encode(), id="utf-8"),
    pytest.param(b"%00%ff", id="percent-encoded"),
    pytest.param(b"A" * 43, id="well-formed-unknown"),
    pytest.param(b"x" * 8000, id="8-kb"),
    pytest.param(b"\x7f\x01", id="control-characters"),
]
ROUTES = [
    pytest.param("GET", "/me", id="me"),
    pytest.param("GET", "/test", id="test"),
    pytest.param("GET", "/sessions", id="sessions"),
    pytest.param("POST", "/token", id="refresh"),
    pytest.param("POST", "/sign-out", id="sign-out"),
    pytest.param("POST", "/sign-out-all", id="sign-out-all"),
    pytest.param("DELETE", "/sessions/x", id="end-session"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("value", GARBAGE)
def test_garbage_cookies_get_a_4xx_never_a_5xx(
    anonymous: TestClient, method: str, path: str, value: bytes
) -> None:
    names = (ACCESS, REFRESH, CSRF)
    cookies = b"; ".join(name.encode() + b"=" + value for name in names)

    response = anonymous.request(method, path, headers={"Cookie": cookies, "X-CSRF-Token": value})

    assert 400 <= response.status_code < 500
    assert is_error_body(response.json())


@pytest.mark.parametrize(
    "cookies",
    [
        pytest.param(b"=;;==; ;", id="empty-names"),
        pytest.param(ACCESS.encode() + b"=a; " + ACCESS.encode() + b"=b", id="duplicate"),
        pytest.param(b"; ".join([b"c%d=v" % i for i in range(500)]), id="500-cookies"),
    ],
)
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_malformed_cookie_headers_get_a_4xx_never_a_5xx(
    anonymous: TestClient, method: str, path: str, cookies: bytes
) -> None:
    response = anonymous.request(method, path, headers={"Cookie": cookies})

    assert 400 <= response.status_code < 500


# -- settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "issuer", ["http://localhost:8000", "http://127.0.0.1:9000", "http://[::1]:8000"]
)
def test_cookies_without_secure_are_allowed_on_localhost(issuer: str) -> None:
    assert Settings(issuer=issuer, cookie_secure=False).cookie_secure is False


@pytest.mark.parametrize(
    "issuer", ["https://auth.example.com", "http://192.0.2.1:8000", "http://[bad", "urn:x"]
)
def test_cookies_without_secure_are_refused_anywhere_else(issuer: str) -> None:
    with pytest.raises(ConfigurationError, match="AUTHGATE_COOKIE_SECURE"):
        Settings(issuer=issuer, cookie_secure=False)


def test_cookie_settings_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"AUTHGATE_COOKIE_SECURE": "false", "AUTHGATE_COOKIE_SAMESITE": "Strict"}, env_file=None
    )

    assert (settings.cookie_secure, settings.cookie_samesite) == (False, "strict")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTHGATE_COOKIE_SECURE", "maybe"),
        ("AUTHGATE_COOKIE_SECURE", ""),
        ("AUTHGATE_COOKIE_SAMESITE", "none"),
        ("AUTHGATE_COOKIE_SAMESITE", "lax-ish"),
    ],
)
def test_bad_cookie_settings_stop_startup_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_env({name: value}, env_file=None)


# -- the account page -----------------------------------------------------------------


class _Markup(HTMLParser):
    """What the page's HTML would run or style inline."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        self.inline += [f"{tag} {name}" for name in names if name.startswith("on")]
        if "style" in names or tag == "style":
            self.inline.append(f"{tag} style")
        if tag == "script":
            self.scripts.append(dict(attrs).get("src") or "")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script body")


@pytest.mark.parametrize(
    ("path", "media_type"),
    [
        ("/", "text/html"),
        ("/account.js", "text/javascript"),
        ("/account.css", "text/css"),
    ],
)
def test_the_account_page_and_its_files_are_served_with_the_strict_policy(
    anonymous: TestClient, path: str, media_type: str
) -> None:
    response = anonymous.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_content_security_policy_allows_no_inline_code_and_no_other_origin() -> None:
    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))

    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


def test_the_account_page_has_no_inline_script_or_style(anonymous: TestClient) -> None:
    markup = _Markup()
    markup.feed(anonymous.get("/").text)

    assert markup.scripts == ["/account.js"]
    assert markup.inline == []


def test_the_account_page_is_not_in_the_api_schema(anonymous: TestClient) -> None:
    paths = anonymous.get("/openapi.json").json()["paths"]

    assert not {"/", "/account.js", "/account.css"} & set(paths)
