"""The package's shape: import arrows point inward, and the public names are exactly these."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import authgate

SRC = Path(authgate.__file__).parent
WEB_AND_DATABASE = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "limits")
# What a protected app may not be made to load by `import authgate`: every framework an
# adapter serves, the server's pieces and the optional drivers.
FRAMEWORKS_AND_DRIVERS = (
    *WEB_AND_DATABASE,
    "flask",
    "django",
    "rest_framework",
    "redis",
    "psycopg",
)
# The verifier reads tokens with the server's own code, and nothing else of the server.
# The revocation feed subscribes with the server's Redis transport (no database driver).
VERIFIER_MAY_IMPORT = (
    "authgate.core",
    "authgate.errors",
    "authgate.storage.notify",
    "authgate.verifier",
)
ADAPTERS = {
    "authgate/verifier/fastapi.py": ("fastapi", "starlette"),
    "authgate/verifier/starlette.py": ("starlette",),
    "authgate/verifier/flask.py": ("flask",),
    "authgate/verifier/django/__init__.py": ("django",),
    "authgate/verifier/django/rest_framework.py": ("django", "rest_framework"),
}


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((SRC / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_only_core_and_errors_of_authgate(path: Path) -> None:
    for name in imported_modules(path):
        top = name.split(".")[0]
        assert top not in WEB_AND_DATABASE, f"{path.name} imports {name}"
        if top == "authgate":
            assert name.startswith(("authgate.core", "authgate.errors")), (
                f"{path.name} imports {name}"
            )


def test_importing_the_core_loads_no_web_framework_or_database_driver() -> None:
    code = (
        "import sys, authgate, authgate.core.tokens, authgate.core.sessions, authgate.core.users;"
        f"print(sorted(m for m in {WEB_AND_DATABASE!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_importing_authgate_loads_no_framework_database_or_driver() -> None:
    code = (
        "import sys, authgate;"
        f"print(sorted(m for m in {FRAMEWORKS_AND_DRIVERS!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "path", sorted(SRC.joinpath("verifier").rglob("*.py")), ids=lambda p: p.name
)
def test_verifier_imports_only_the_core_errors_and_the_redis_transport_of_authgate(
    path: Path,
) -> None:
    for name in imported_modules(path):
        if name.split(".")[0] == "authgate":
            assert name.startswith(VERIFIER_MAY_IMPORT), f"{path.name} imports {name}"


@pytest.mark.parametrize("path", sorted(ADAPTERS), ids=lambda p: p.removeprefix("authgate/"))
def test_each_framework_is_imported_only_by_its_own_adapter(path: str) -> None:
    frameworks = {"fastapi", "starlette", "flask", "django", "rest_framework"}
    imported = {name.split(".")[0] for name in imported_modules(SRC.parent / path)}

    assert imported & frameworks
    assert imported & frameworks <= set(ADAPTERS[path])


def test_public_names_are_exactly_these() -> None:
    assert sorted(authgate.__all__) == [
        "AccessClaims",
        "AuthgateError",
        "ConfigurationError",
        "ExpiredToken",
        "ForeignToken",
        "InvalidToken",
        "KeyRing",
        "MalformedToken",
        "RemoteKeys",
        "RevokedToken",
        "SigningKey",
        "StaleAuthentication",
        "StaticKeys",
        "UntrustedToken",
        "Verifier",
        "read_access_token",
    ]
    for name in authgate.__all__:
        assert hasattr(authgate, name)


def test_common_password_list_ships_with_the_package() -> None:
    from authgate.core.passwords import common_passwords

    assert len(common_passwords()) >= 10_000 - 1
    assert "password" in common_passwords()


def test_every_setting_is_documented_in_the_readme() -> None:
    from dataclasses import fields

    from authgate.settings import PREFIX, Settings

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [
        PREFIX + f.name.upper()
        for f in fields(Settings)
        if f"`{PREFIX}{f.name.upper()}`" not in readme
    ]
    assert missing == []


# Routes and commands call use cases (service.py) only: the parts those are built from are
# the wiring's (wiring.py; web/app.py and cli/app.py open it), and the rules are core's.
ROUTES_AND_COMMANDS = sorted(
    [
        *SRC.glob("web/routes/*.py"),
        *(SRC / "web" / name for name in ("docs.py", "page.py")),
        *SRC.glob("cli/*.py"),
    ]
)
BEHIND_THE_USE_CASES = (
    "authgate.storage",
    "authgate.wiring",
    "authgate.core.sessions",
    "authgate.core.keychain",
    "authgate.core.users",
    "authgate.core.guard",
    "authgate.core.revocations",
)


@pytest.mark.parametrize("path", ROUTES_AND_COMMANDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_routes_and_commands_import_use_cases_not_the_parts_behind_them(path: Path) -> None:
    behind = [n for n in imported_modules(path) if n.startswith(BEHIND_THE_USE_CASES)]

    assert behind == [], f"{path.name} imports {behind}"


@pytest.mark.parametrize("path", ROUTES_AND_COMMANDS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_routes_and_commands_do_not_reach_through_the_service(path: Path) -> None:
    reached = [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "parts"
    ]

    assert reached == [], f"{path.name} reaches into Service.parts on lines {reached}"
