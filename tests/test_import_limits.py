"""`authgate users import` on hostile files: memory stays bounded, ids never collide."""

from __future__ import annotations

import io
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from authgate.core.mongo_import import MAX_DOCUMENT, MONGO_IDS, read_records
from test_import import (
    command,
    counts,
    document,
    opened_service,
    run,
    write_lines,
)

MIB = 1 << 20


def peak_memory_mib(*args: str) -> tuple[int, str]:
    """Run `authgate users import ARGS`; its peak resident memory (MiB) and its output."""
    with subprocess.Popen(command(*args), stdout=subprocess.PIPE, text=True) as process:
        assert process.stdout is not None
        out = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
        process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0, out
    return usage.ru_maxrss // 1024, out  # ru_maxrss is in KiB on Linux


def write_huge_line(path: Path, size: int) -> Path:
    """Good lines around one JSON object `size` bytes long, written without holding it."""
    with path.open("w", encoding="utf-8") as file:
        file.write(json.dumps(document("before@example.com", number=1)) + "\n")
        huge = document("huge@example.com", number=2)
        opening = json.dumps(huge)[:-1] + ', "padding": "'
        file.write(opening)
        block = "x" * MIB
        for _ in range(size // MIB):
            file.write(block)
        file.write('"}\n')
        file.write(json.dumps(document("after@example.com", number=3)) + "\n")
    return path


@pytest.mark.e2e
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_100_mb_line_is_one_invalid_record_read_in_bounded_memory(environment: Path) -> None:
    small = write_lines(environment / "small.json", [document("small@example.com", number=9)])
    baseline, _ = peak_memory_mib(str(small))
    export = write_huge_line(environment / "users.json", 100 * MIB)
    assert export.stat().st_size > 100 * MIB

    try:
        peak, out = peak_memory_mib(str(export))
    finally:
        export.unlink()  # 100 MiB is not worth keeping among pytest's recent temp folders

    assert peak < baseline + 40, f"{peak} MiB at peak, {baseline} MiB for a one-line file"
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 0, "invalid": 1}
    assert "line 2: invalid: line longer than 1 MiB" in out
    with opened_service() as service:
        assert service.parts.store.user_by_email("before@example.com") is not None
        assert service.parts.store.user_by_email("after@example.com") is not None
        assert service.parts.store.user_by_email("huge@example.com") is None


def records(data: bytes) -> list[tuple[int, int, str]]:
    _, found = read_records(io.BytesIO(data))
    return [(record.line, record.number, record.error) for record in found]


def test_a_line_up_to_1_mib_is_read_and_a_longer_one_is_skipped_to_its_end() -> None:
    fits = b'{"a": "' + b"x" * (MAX_DOCUMENT - 9) + b'"}'
    assert len(fits) == MAX_DOCUMENT
    too_long = b'{"a": "' + b"x" * (MAX_DOCUMENT - 8) + b'"}'
    data = b"\n".join([fits, too_long, b"{}", too_long + b" " * 5 * MIB, b"{}", too_long])

    assert records(data) == [
        (1, 1, ""),
        (2, 2, "line longer than 1 MiB"),
        (3, 3, ""),
        (4, 4, "line longer than 1 MiB"),
        (5, 5, ""),
        (6, 6, "line longer than 1 MiB"),  # the last line, without a newline
    ]


def test_blank_lines_before_the_first_record_still_count_for_line_numbers() -> None:
    assert records(b"\xef\xbb\xbf\n  \n\r\n" + b" " * 200_000 + b"\n{}\n{") == [
        (5, 1, ""),
        (6, 2, "not valid JSON: Expecting property name enclosed in double quotes (column 2)"),
    ]
    _, found = read_records(io.BytesIO(b"\n\n  [\n{},\n{}]"))
    assert [record.line for record in found] == [4, 5]


@pytest.mark.parametrize(
    ("string_id", "other"),
    [
        pytest.param(
            "email:x@example.com",
            {"email": "x@example.com"},  # no _id: the id derives from the e-mail
            id="string-like-an-e-mail-id",
        ),
        pytest.param(
            "5f1a2b3c4d5e6f7a8b000001",
            {"email": "x@example.com", "_id": {"$oid": "5f1a2b3c4d5e6f7a8b000001"}},
            id="string-like-an-object-id",
        ),
    ],
)
def test_ids_of_different_kinds_never_collide(
    environment: Path,
    capsys: pytest.CaptureFixture[str],
    string_id: str,
    other: dict[str, object],
) -> None:
    by_string = {**document("y@example.com"), "_id": string_id}
    second = {**document("x@example.com"), **other}
    if "_id" not in other:
        del second["_id"]

    status, out, _ = run(capsys, str(write_lines(environment / "users.json", [by_string, second])))

    assert status == 0
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 0, "invalid": 0}
    with opened_service() as service:
        y = service.parts.accounts.find("y@example.com")
        x = service.parts.accounts.find("x@example.com")
        assert x.id != y.id
        assert y.id == str(uuid.uuid5(MONGO_IDS, "string:" + string_id))


def test_a_string_id_with_an_unpaired_surrogate_is_an_invalid_record(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        json.dumps({**document("y@example.com"), "_id": "\ud800"}),
        document("x@example.com"),
    ]

    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out) == {"imported": 1, "already present": 0, "duplicates": 0, "invalid": 1}
    assert "_id contains unpaired surrogate characters" in out
