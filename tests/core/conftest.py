"""The domain runs once, on a real SQLite file: its rules do not depend on the database.

What does depend on it (atomic rotation, concurrent writers, dialects, migrations) is
the store's contract in tests/storage, which runs on every backend, as the HTTP tests do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import filled_from


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(database_url: str, tmp_path: Path, sqlite_template: Path) -> str:
    """The shared fixture's new SQLite file, filled from the migrated template with its key."""
    return filled_from(sqlite_template, database_url, tmp_path)
