"""A setting whose optional driver is not installed: one line naming the extra, exit 2.

The review set AUTHGATE_DATABASE_URL=postgresql://… without authgate[postgresql] (and
AUTHGATE_REDIS_URL without authgate[redis]) and got a ModuleNotFoundError traceback. The
drivers are installed here, so the subprocess hides one the way an absent one looks to
Python: `sys.modules[name] = None` makes its import fail and `find_spec` find nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e  # each case is an `authgate` subprocess

WITHOUT = (
    "import sys; sys.modules[{module!r}] = None; from authgate.cli import main; "
    "raise SystemExit(main(sys.argv[1:]))"
)
CASES = [
    pytest.param(
        "psycopg",
        {"AUTHGATE_DATABASE_URL": "postgresql://authgate:pw@127.0.0.1:1/authgate"},
        "postgresql",
        id="postgresql",
    ),
    pytest.param(
        "psycopg",
        {"AUTHGATE_DATABASE_URL": "postgres://authgate:pw@127.0.0.1:1/authgate"},
        "postgresql",
        id="postgres-scheme",
    ),
    pytest.param("redis", {"AUTHGATE_REDIS_URL": "redis://127.0.0.1:1/0"}, "redis", id="redis"),
]


@pytest.mark.parametrize("command", [["keys", "list"], ["serve", "--port", "1"]])
@pytest.mark.parametrize(("module", "environment", "extra"), CASES)
def test_a_missing_driver_is_one_line_naming_its_extra(
    tmp_path: Path, command: list[str], module: str, environment: dict[str, str], extra: str
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")},
        "AUTHGATE_DATABASE_URL": f"sqlite:///{tmp_path / 'authgate.db'}",
        **environment,
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT.format(module=module), *command],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"pip install 'authgate[{extra}]'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
