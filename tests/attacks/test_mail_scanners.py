"""Mail scanners open every link of every mail (GET, HEAD, with or without a referrer):
that must spend no token. Only the button's POST does (DESIGN.md §8).

Every kind of mail authgate sends is produced through the API; then every link in every
letter, text and HTML alike, is fetched the way a scanner fetches it; then each token is
spent by its POST, which succeeds only if the fetching consumed nothing.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.service import Service
from helpers import PASSWORD, bearer, sign_up_and_in

LINK = re.compile(r"https?://[^\s\"'<>]+")
EMAIL = "ada@example.com"
SCANNER_HEADERS = [
    {"User-Agent": "Mozilla/5.0 (compatible; SafeLinks)"},
    {"User-Agent": "Barracuda", "Referer": "https://mail.example.com/"},
    {"Accept": "*/*", "Purpose": "prefetch", "Sec-Purpose": "prefetch"},
]


def every_link(service: Service) -> list[str]:
    links: list[str] = []
    for envelope in service.outbox(limit=500):
        letter = service.open_mail(envelope)
        assert letter is not None
        links += LINK.findall(letter.text)
        links += [html.unescape(url) for url in LINK.findall(letter.html)]
    return list(dict.fromkeys(links))


def test_opening_every_link_of_every_mail_spends_no_token(client: TestClient) -> None:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    tokens = sign_up_and_in(client)  # verify_email
    headers = bearer(tokens["access_token"])
    client.post("/password/forgot", json={"email": EMAIL})  # reset_password
    # confirm_email_change to the new address, email_change_requested (revert) to the old
    client.post("/email/change", headers=headers, json={"new_email": "ada@example.org"})
    client.post(  # password_changed
        "/password/change",
        headers=headers,
        json={
            "current_password": PASSWORD,
            "new_password": "another passphrase",
            "sign_out_others": False,
        },
    )
    kinds = {envelope.kind for envelope in service.outbox()}
    assert kinds >= {
        "verify_email",
        "reset_password",
        "confirm_email_change",
        "email_change_requested",
        "password_changed",
    }
    links = every_link(service)
    with_tokens = [url for url in links if "token=" in url]
    assert len(with_tokens) >= 4  # verify, reset (voided by the change, see below), confirm, revert

    for url in links:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        for extra in SCANNER_HEADERS:
            assert client.get(target, headers=extra).status_code == 200, target
            # HEAD is not served (405); either way it must not spend anything.
            assert client.head(target, headers=extra).status_code in (200, 405), target

    # Spent in the order a person would: the revert link last, since it voids the others.
    order = ["/email/verify", "/password/reset", "/email/change/confirm", "/email/change/revert"]
    spent = {}
    for url in sorted(with_tokens, key=lambda url: order.index(urlsplit(url).path)):
        parts = urlsplit(url)
        token = parse_qs(parts.query)["token"][0]
        body = {"token": token}
        if parts.path == "/password/reset":
            body["password"] = "yet another passphrase"
        spent[parts.path] = client.post(parts.path, json=body).status_code
    # Every link still worked after the scanning, except the reset link, which the password
    # change above voided on purpose (its own test: tests/attacks/test_link_tokens.py).
    assert spent == {
        "/email/verify": 204,
        "/password/reset": 400,
        "/email/change/confirm": 204,
        "/email/change/revert": 204,
    }


def test_a_reset_link_survives_scanning(client: TestClient) -> None:
    assert isinstance(client.app, FastAPI)
    service: Service = client.app.state.service
    sign_up_and_in(client)
    client.post("/password/forgot", json={"email": EMAIL})
    resets = [url for url in every_link(service) if "/password/reset?" in url]
    assert len(resets) == 1
    parts = urlsplit(resets[0])
    for extra in SCANNER_HEADERS:
        assert client.get(f"{parts.path}?{parts.query}", headers=extra).status_code == 200
    token = parse_qs(parts.query)["token"][0]
    reset = client.post("/password/reset", json={"token": token, "password": "a new passphrase"})
    assert reset.status_code == 204
