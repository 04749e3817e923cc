"""The examples protect their routes against a real server, so they cannot rot.

The ASGI and Flask examples are imported as they are and called through their framework's
test client; the Django example runs as its README says, `manage.py runserver`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi.testclient import TestClient

from helpers import bearer
from servers import Server
from services import free_port

from . import SignedIn

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import examples/NAME.py afresh, as a module of its own."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def issuer(server: Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """The examples read AUTHGATE_ISSUER from the environment."""
    monkeypatch.setenv("AUTHGATE_ISSUER", server.url)
    return server.url


@pytest.mark.parametrize("name", ["fastapi_app", "starlette_app"])
def test_asgi_example_serves_things_to_a_signed_in_user_only(
    name: str, issuer: str, user: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = load_example(name, monkeypatch).app

    with TestClient(app) as client:
        served = client.get("/things", headers=bearer(user.access_token))
        refused = client.get("/things")

    assert (served.status_code, served.json()["owner"]) == (200, user.user_id)
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, "Bearer")


def test_flask_example_serves_things_to_a_signed_in_user_only(
    issuer: str, user: SignedIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = load_example("flask_app", monkeypatch).app.test_client()

    served = client.get("/things", headers=bearer(user.access_token))
    refused = client.get("/things", headers=bearer("not-a-token"))

    assert (served.status_code, served.get_json()["owner"]) == (200, user.user_id)
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (
        401,
        'Bearer error="invalid_token"',
    )


@pytest.fixture(scope="module")
def django_example(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python examples/django_app/manage.py runserver` against the server; its URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "DJANGO_"))}
    env["AUTHGATE_ISSUER"] = server.url
    log_path = tmp_path_factory.mktemp("django") / "runserver.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / "django_app" / "manage.py"), "runserver",
             "--noreload", f"127.0.0.1:{port}"],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/things", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(log_path.read_text(errors="replace")) from None
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.mark.parametrize("path", ["/things", "/api/things"], ids=["django-view", "drf-view"])
def test_django_example_serves_things_to_a_signed_in_user_only(
    django_example: str, user: SignedIn, path: str
) -> None:
    served = httpx.get(django_example + path, headers=bearer(user.access_token))
    refused = httpx.get(django_example + path)

    assert (served.status_code, served.json()["owner"]) == (200, user.user_id)
    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (401, "Bearer")


@pytest.mark.parametrize("path", ["/things", "/api/things"], ids=["django-view", "drf-view"])
def test_django_example_refuses_a_forged_token(
    django_example: str, user: SignedIn, path: str
) -> None:
    forged = user.access_token[:-4] + ("AAAA" if not user.access_token.endswith("AAAA") else "BBBB")

    refused = httpx.get(django_example + path, headers=bearer(forged))

    assert (refused.status_code, refused.headers["WWW-Authenticate"]) == (
        401,
        'Bearer error="invalid_token"',
    )
