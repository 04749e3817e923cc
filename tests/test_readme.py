"""The README's examples are code the tests run.

A Python block that opens with `# examples/<file>` must stand word for word in that file
(tests/verifier/test_examples.py runs each example against a real server); the browser
helper must stand in the account page's script (tests/browser drives it); the migration
commands are run here, on a generated export, and the imported users sign in.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import bcrypt
import pytest

from authgate.cli import main
from authgate.service import Service
from authgate.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", README, flags=re.DOTALL)


def example_blocks() -> list[tuple[str, str]]:
    found = []
    for language, body in BLOCKS:
        first, _, rest = body.partition("\n")
        if language == "python" and first.startswith("# examples/"):
            found.append((first.removeprefix("# "), rest))
    return found


def test_the_readme_shows_an_example_for_each_framework() -> None:
    files = {path for path, _ in example_blocks()}

    assert {"examples/fastapi_app.py", "examples/flask_app.py"} <= files
    assert "examples/django_app/settings.py" in files


@pytest.mark.parametrize(("path", "block"), example_blocks(), ids=lambda v: str(v)[:40])
def test_each_readme_example_is_word_for_word_in_its_runnable_file(path: str, block: str) -> None:
    assert block.strip() in (ROOT / path).read_text()


def test_the_browser_helper_in_the_readme_is_the_account_pages_own() -> None:
    (script,) = [body for language, body in BLOCKS if language == "js"]

    page = (ROOT / "src/authgate/web/static/account.js").read_text()

    assert script.strip() in page


def test_the_migration_commands_import_users_who_then_sign_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    (commands,) = [body for language, body in BLOCKS if "authgate users import" in body]
    mongoexport, authgate = (shlex.split(line) for line in commands.strip().splitlines())
    assert mongoexport[0] == "mongoexport"
    out = mongoexport[mongoexport.index("--out") + 1]
    # What mongoexport would have written: the tutorial's users, bcrypt hashes and all.
    users = {"ada@example.com": "pw-ada-1", "Bob@Example.com": "pw-bob-2"}
    rows = [
        {
            "_id": {"$oid": f"65a1f0c2e4b0a1b2c3d4e5f{n}"},
            "email": email,
            "password": bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode(),
        }
        for n, (email, password) in enumerate(users.items())
    ]
    monkeypatch.chdir(tmp_path)
    Path(out).write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.setenv("AUTHGATE_DATABASE_URL", database_url)

    assert authgate[0] == "authgate"
    assert main(authgate[1:]) == 0

    service = Service(Settings(database_url=database_url))
    try:
        assert service.sign_in("ada@example.com", "pw-ada-1").access_token
        assert service.sign_in("bob@example.com", "pw-bob-2").access_token
    finally:
        service.close()
