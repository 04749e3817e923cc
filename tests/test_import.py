"""`authgate users import`: a mongoexport of the Node tutorial's users, on SQLite and PostgreSQL.

Real files, real bcrypt hashes (cost 4, to stay quick), the real command and database.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import bcrypt
import pytest

from authgate.cli import main
from authgate.core.mongo_import import (
    BCRYPT_HASH,
    MONGO_IDS,
    InvalidDocument,
    read_records,
    user_from_document,
)
from authgate.core.passwords import FAST_FOR_TESTS, Passwords
from authgate.core.store import User, UserId
from authgate.service import Service
from authgate.settings import Settings

NOW = datetime(2030, 1, 1, tzinfo=UTC)
PASSWORDS = ["tutorial password 1", "another old secret", "léon's 3rd passphrase"]
ROOT = Path(__file__).resolve().parents[1]


@cache
def bcrypt_hash(password: str, prefix: str = "$2b$") -> str:
    """What the Node tutorial stored: bcrypt, here at cost 4 so tests stay quick."""
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    return prefix + hashed[4:]


def document(
    email: str, password: str = PASSWORDS[0], *, number: int = 0, **fields: object
) -> dict[str, object]:
    """A users-collection document as mongoexport writes it (relaxed Extended JSON)."""
    return {
        "_id": {"$oid": f"5f1a2b3c4d5e6f7a8b{number:06x}"},
        "email": email,
        "password": bcrypt_hash(password),
        "createdAt": {"$date": "2021-03-04T05:06:07.089Z"},
        "__v": 0,
        **fields,
    }


def write_lines(path: Path, lines: Sequence[dict[str, object] | str]) -> Path:
    """mongoexport's default form: one document per line."""
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return path


@contextlib.contextmanager
def opened_service() -> Iterator[Service]:
    """The service on the command's database, as a server process would open it."""
    service = Service(Settings.from_env(os.environ), preset=FAST_FOR_TESTS)
    try:
        yield service
    finally:
        service.close()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["users", "import", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def counts(output: str) -> dict[str, int]:
    """The summary's figures: {"imported": 3, "already present": 0, ...}."""
    found = {}
    for label in ("imported", "already present", "duplicates", "invalid"):
        line = next(line for line in output.splitlines() if line.strip().startswith(label))
        found[label] = int(line.split()[-1].replace(",", ""))
    return found


def user_count() -> int:
    with opened_service() as service:
        return len(service.parts.store.list_users(limit=1_000_000))


# -- the command, end to end --------------------------------------------------------------


def test_imported_users_sign_in_with_their_old_password_and_are_rehashed_to_argon2id(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [document(f"user{i}@example.com", pw, number=i) for i, pw in enumerate(PASSWORDS)]
    assert run(capsys, str(write_lines(environment / "users.json", lines)))[0] == 0

    with opened_service() as service:
        for i, password in enumerate(PASSWORDS):
            email = f"user{i}@example.com"
            before = service.parts.store.user_by_email(email)
            assert before is not None
            assert before.password_hash == bcrypt_hash(password)  # kept as the tutorial stored it
            assert service.sign_in(email, password).claims.email == email
            after = service.parts.store.user_by_email(email)
            assert after is not None
            assert after.password_hash.startswith("$argon2id$")
            assert service.sign_in(email, password).claims.email == email


def test_an_imported_user_is_refused_with_a_wrong_password(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys, str(write_lines(environment / "users.json", [document("ada@example.com")])))
    with opened_service() as service, pytest.raises(Exception, match="incorrect"):
        service.sign_in("ada@example.com", "not the tutorial password")


def write_array(path: Path, documents: Sequence[dict[str, object]]) -> Path:
    """`mongoexport --jsonArray`: the whole collection on one line."""
    path.write_text(json.dumps(documents, separators=(",", ":")), encoding="utf-8")
    return path


def write_pretty_array(path: Path, documents: Sequence[dict[str, object]]) -> Path:
    """`mongoexport --jsonArray --pretty`."""
    path.write_text(json.dumps(documents, indent=2) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("write", [write_lines, write_array, write_pretty_array])
def test_every_form_mongoexport_writes_is_imported(
    write: Callable[[Path, list[dict[str, object]]], Path],
    environment: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    documents = [document(f"user{i}@example.com", number=i) for i in range(5)]
    status, out, _ = run(capsys, str(write(environment / "users.json", documents)))
    assert status == 0
    assert counts(out) == {"imported": 5, "already present": 0, "duplicates": 0, "invalid": 0}
    assert user_count() == 5


def test_extended_json_ids_and_dates_become_the_users_id_and_creation_time(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        document("iso@example.com", number=1, createdAt={"$date": "2021-03-04T05:06:07.089Z"}),
        document(
            "long@example.com", number=2, createdAt={"$date": {"$numberLong": "1612345678901"}}
        ),
        document("legacy@example.com", number=3, createdAt={"$date": 1612345678901}),
        document("offset@example.com", number=4, createdAt={"$date": "2021-03-04T06:06:07+01:00"}),
    ]
    run(capsys, str(write_lines(environment / "users.json", lines)))

    with opened_service() as service:
        iso = service.parts.accounts.find("iso@example.com")
        assert iso.id == str(uuid.uuid5(MONGO_IDS, "5f1a2b3c4d5e6f7a8b000001"))
        assert iso.created_at == datetime(2021, 3, 4, 5, 6, 7, 89000, tzinfo=UTC)
        long_form = datetime(2021, 2, 3, 9, 47, 58, 901000, tzinfo=UTC)
        assert service.parts.accounts.find("long@example.com").created_at == long_form
        assert service.parts.accounts.find("legacy@example.com").created_at == long_form
        offset = service.parts.accounts.find("offset@example.com").created_at
        assert offset == datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_a_username_field_holding_an_e_mail_is_imported_as_the_e_mail(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    line = document("unused@example.com")
    del line["email"]
    line["username"] = "Grace@Example.com"
    run(capsys, str(write_lines(environment / "users.json", [line])))
    with opened_service() as service:
        assert service.sign_in("grace@example.com", PASSWORDS[0]).claims.email == (
            "Grace@example.com"
        )


def test_duplicate_e_mails_in_the_file_are_reported_by_line_and_the_first_one_wins(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        document("Ada@Example.com", PASSWORDS[0], number=1),
        document("bob@example.com", number=2),
        document("ada@example.COM", PASSWORDS[1], number=3),
        document("ADA@EXAMPLE.COM", PASSWORDS[2], number=4),
    ]
    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 2, "invalid": 0}
    assert "line 3: duplicate: ada@example.com: the e-mail is on line 1 already" in out
    assert "line 4: duplicate: ADA@example.com: the e-mail is on line 1 already" in out
    with opened_service() as service:
        assert service.sign_in("ada@example.com", PASSWORDS[0])
        with pytest.raises(Exception, match="incorrect"):
            service.sign_in("ada@example.com", PASSWORDS[1])


def test_a_repeated_id_in_the_file_is_a_duplicate(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [document("ada@example.com", number=7), document("bob@example.com", number=7)]
    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))
    assert status == 0
    assert "line 2: duplicate: bob@example.com: the _id is on line 1 already" in out


def test_an_e_mail_that_already_has_an_account_is_a_duplicate_and_the_account_is_untouched(
    environment: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("signed up on authgate\n"))
    assert main(["users", "create", "ADA@example.com", "--password-stdin"]) == 0
    capsys.readouterr()
    lines = [document("bob@example.com", number=1), document("ada@example.com", number=2)]

    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out) == {"imported": 1, "already present": 0, "duplicates": 1, "invalid": 0}
    assert "line 2: duplicate: ada@example.com: an account with this e-mail already exists" in out
    with opened_service() as service:
        assert service.sign_in("ada@example.com", "signed up on authgate")
        with pytest.raises(Exception, match="incorrect"):
            service.sign_in("ada@example.com", PASSWORDS[0])


def test_invalid_records_are_reported_by_line_and_the_others_imported(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines: list[dict[str, object] | str] = [
        document("first@example.com", number=1),
        '{"email": "broken@example.com", "password": ',
        document("not an address", number=3),
        {**document("plain@example.com", number=4), "password": "hunter22-in-clear"},
        "",  # blank lines are skipped, and still counted as lines
        '["an", "array"]',
        document("last@example.com", number=7),
    ]
    status, out, _ = run(capsys, str(write_lines(environment / "users.json", lines)))

    assert status == 0
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 0, "invalid": 4}
    assert "line 2: invalid: not valid JSON" in out
    assert "line 3: invalid: email: the e-mail address is not valid" in out
    assert "line 4: invalid: password is not a bcrypt hash" in out
    assert "line 6: invalid: not a JSON object" in out
    assert user_count() == 2


def test_a_second_run_finds_every_user_already_present_even_after_a_rehash(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_lines(
        environment / "users.json",
        [document(f"user{i}@example.com", number=i) for i in range(4)] + ["{not json"],
    )
    first = run(capsys, str(export))
    with opened_service() as service:
        service.sign_in("user0@example.com", PASSWORDS[0])  # its hash is argon2id now

    status, out, _ = run(capsys, str(export))

    assert counts(first[1]) == {"imported": 4, "already present": 0, "duplicates": 0, "invalid": 1}
    assert status == 0
    assert counts(out) == {"imported": 0, "already present": 4, "duplicates": 0, "invalid": 1}
    assert user_count() == 4


def test_a_truncated_array_keeps_the_records_before_the_cut(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = json.dumps([document(f"user{i}@example.com", number=i) for i in range(3)])
    (environment / "users.json").write_text(text[: text.rindex("{") + 20])

    status, out, _ = run(capsys, "users.json")

    assert status == 0
    assert counts(out) == {"imported": 2, "already present": 0, "duplicates": 0, "invalid": 1}
    assert "record 3 (line 1): invalid: not valid JSON" in out
    assert "the rest of the file was not read" in out


def test_the_report_holds_every_problem_while_show_limits_the_printout(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [document("ada@example.com", number=1), "nope", "{}", document("ADA@example.com")]
    export = write_lines(environment / "users.json", lines)

    status, out, _ = run(capsys, str(export), "--report", "problems.jsonl", "--show", "1")

    assert status == 0
    assert "first 1 of 3 problems:" in out
    assert "line 2: invalid" in out
    assert "line 3:" not in out
    assert "all 3 problems written to problems.jsonl" in out
    report = [
        json.loads(line) for line in (environment / "problems.jsonl").read_text().splitlines()
    ]
    assert [(p["line"], p["kind"], p["email"]) for p in report] == [
        (2, "invalid", None),
        (3, "invalid", None),
        (4, "duplicate", "ADA@example.com"),
    ]
    assert report[1]["reason"] == "no email or username field"


def test_standard_input_is_read_when_the_file_is_a_dash(
    environment: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    export = write_lines(environment / "users.json", [document("ada@example.com")])
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(export.read_bytes())))
    status, out, _ = run(capsys, "-")
    assert status == 0
    assert "from standard input (JSON lines)" in out
    assert counts(out)["imported"] == 1


def test_password_hashes_never_reach_the_output_the_report_or_the_logs(
    environment: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    weak = bcrypt_hash(PASSWORDS[1]).replace("$04$", "$03$")  # a cost bcrypt never writes
    lines = [
        document("ada@example.com", PASSWORDS[0], number=1),
        document("ADA@example.com", PASSWORDS[1], number=2),
        {**document("bob@example.com", number=3), "password": weak},
        {**document("cy@example.com", number=4), "password": "cleartext-secret-9"},
        {**document("dee@example.com", number=5), "createdAt": "yesterday"},
    ]
    export = write_lines(environment / "users.json", lines)

    outputs = [run(capsys, str(export), "--report", "report.jsonl") for _ in range(2)]

    seen = "".join(out + err for _, out, err in outputs)
    seen += (environment / "report.jsonl").read_text() + caplog.text
    assert "problems written" in seen
    for secret in (bcrypt_hash(PASSWORDS[0]), bcrypt_hash(PASSWORDS[1]), weak):
        assert secret not in seen
        assert secret[7:29] not in seen  # not even the salt
    assert "cleartext-secret-9" not in seen


# -- exit status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, "cannot read users.json", id="missing"),
        pytest.param(b"", "it is empty", id="empty"),
        pytest.param(b"\n  \n", "it is empty", id="blank"),
        pytest.param(b"\x00\x01\xff\xfe BSON, not JSON\n", "none of its 1 records", id="bson"),
        pytest.param(b"email,password\nada@example.com,x\n", "none of its 2 records", id="csv"),
        pytest.param(b"[1, 2]", "none of its 2 records", id="array-of-numbers"),
    ],
)
def test_nothing_readable_exits_with_status_1(
    content: bytes | None, message: str, environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if content is not None:
        (environment / "users.json").write_bytes(content)
    status, out, err = run(capsys, "users.json")
    assert status == 1
    assert message in err
    assert "imported" not in out


def test_a_folder_is_nothing_readable(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (environment / "export").mkdir()
    status, _, err = run(capsys, "export")
    assert status == 1
    assert "cannot read export" in err


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="no-file"),
        pytest.param(["users.json", "--batch-size", "0"], id="batch-size-0"),
        pytest.param(["users.json", "--show", "-1"], id="negative-show"),
        pytest.param(["users.json", "--report", "."], id="report-is-a-folder"),
        pytest.param(["users.json", "--frobnicate"], id="unknown-option"),
    ],
)
def test_a_usage_error_exits_with_status_2(
    args: list[str], environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_lines(environment / "users.json", [document("ada@example.com")])
    assert run(capsys, *args)[0] == 2


# -- crash safety and volume --------------------------------------------------------------


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "authgate", "users", "import", *args]


@pytest.mark.e2e
def test_a_killed_import_leaves_whole_batches_and_a_rerun_completes_it(
    environment: Path,
) -> None:
    """Batches commit whole: a kill mid-batch stores none of it, and a re-run fills the gap."""
    lines = [json.dumps(document(f"user{i}@example.com", number=i)) + "\n" for i in range(500)]
    export = environment / "users.json"
    export.write_text("".join(lines))
    process = subprocess.Popen(
        command("-", "--batch-size", "100"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    assert process.stdin is not None
    process.stdin.write("".join(lines[:250]).encode())  # two batches and half of a third
    process.stdin.flush()
    try:
        deadline = time.monotonic() + 60
        while user_count() < 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        assert user_count() == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdin.close()

    result = subprocess.run(command(str(export)), capture_output=True, text=True, check=True)

    assert counts(result.stdout) == {
        "imported": 300,
        "already present": 200,
        "duplicates": 0,
        "invalid": 0,
    }
    assert user_count() == 500


@pytest.mark.e2e
def test_two_thousand_users_import_through_the_real_command_and_sign_in(
    environment: Path,
) -> None:
    """`python -m authgate users import` end to end; bench/import_users.py does 100,000."""
    lines = [
        document(f"user{i}@example.com", PASSWORDS[i % len(PASSWORDS)], number=i)
        for i in range(2000)
    ]
    export = write_lines(environment / "users.json", [*lines, lines[5], "{oops"])

    started = time.monotonic()
    result = subprocess.run(command(str(export)), capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - started

    assert counts(result.stdout) == {
        "imported": 2000,
        "already present": 0,
        "duplicates": 1,
        "invalid": 1,
    }
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    assert elapsed < 60
    with opened_service() as service:
        for i in (0, 397, 1021, 1500, 1999):
            signed_in = service.sign_in(f"user{i}@example.com", PASSWORDS[i % len(PASSWORDS)])
            assert signed_in.claims.email == f"user{i}@example.com"
            assert signed_in.claims.subject == str(
                uuid.uuid5(MONGO_IDS, f"5f1a2b3c4d5e6f7a8b{i:06x}")
            )


# -- the store: many users at once --------------------------------------------------------


def stored_user(email: str, user_id: str) -> User:
    return User(UserId(user_id), email, bcrypt_hash(PASSWORDS[0]), NOW)


def test_add_users_skips_taken_ids_and_e_mails_and_returns_the_ids_it_stored(
    service: Service,
) -> None:
    store = service.parts.store
    assert store.add_users([stored_user("ada@example.com", "id-ada")]) == ["id-ada"]

    stored = store.add_users(
        [
            stored_user("bob@example.com", "id-bob"),
            stored_user("ADA@example.com", "id-other"),  # e-mail taken, in another case
            stored_user("cy@example.com", "id-ada"),  # id taken
            stored_user("BOB@example.com", "id-bob-again"),  # taken earlier in this batch
        ]
    )

    assert stored == ["id-bob"]
    assert store.existing_user_ids(["id-ada", "id-bob", "id-other", "id-nobody"]) == {
        "id-ada",
        "id-bob",
    }
    assert store.add_users([]) == []


# -- reading records and documents (no database) ------------------------------------------


def records(data: bytes) -> list[tuple[int, int, str]]:
    """(line, record number, error) of each record read from `data`."""
    _, found = read_records(io.BytesIO(data))
    return [(record.line, record.number, record.error) for record in found]


def test_a_json_array_is_read_across_many_chunks() -> None:
    documents = [{"email": f"user{i}@example.com", "n": i} for i in range(5000)]
    data = json.dumps(documents).encode()
    assert len(data) > 3 * 65536

    found, read = read_records(io.BytesIO(data))

    assert found == "JSON array"
    assert [record.document for record in read] == documents


def test_a_pretty_array_gives_the_line_each_record_starts_on() -> None:
    data = json.dumps([{"a": 1}, {"b": 2}, 3], indent=2).encode()
    assert records(data) == [(2, 1, ""), (5, 2, ""), (8, 3, "not a JSON object")]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"[]", [], id="empty-array"),
        pytest.param(b"\xef\xbb\xbf[{}]", [(1, 1, "")], id="byte-order-mark"),
        pytest.param(b"[{}", [(1, 1, ""), (1, 2, "the array is not closed")], id="unclosed"),
        pytest.param(b"[{} {}]", [(1, 1, ""), (1, 2, "expected ',' or ']'")], id="no-comma"),
        pytest.param(b"[{}] [{}]", [(1, 1, ""), (1, 2, "more text after the array")], id="two"),
        pytest.param(b'[{"a": "\xff"}]', [(1, 1, "not UTF-8 text")], id="not-utf8"),
        pytest.param(b"[" * 100_000, [(1, 1, "nested too deeply")], id="deep"),
    ],
)
def test_a_broken_array_stops_at_the_first_bad_record(
    data: bytes, expected: list[tuple[int, int, str]]
) -> None:
    found = records(data)
    assert [(line, number) for line, number, _ in found] == [(ln, n) for ln, n, _ in expected]
    for (_, _, error), (_, _, fragment) in zip(found, expected, strict=True):
        assert fragment in error
        assert not fragment or "the rest of the file was not read" in error


def test_bad_lines_are_single_bad_records() -> None:
    data = b'{}\n\n{"a":\n\xff\n' + b"[" * 100_000 + b"\n42\n\r\n{}"
    assert records(data) == [
        (1, 1, ""),
        (3, 2, "not valid JSON: Expecting value (column 6)"),
        (4, 3, "not UTF-8 text"),
        (5, 4, "not valid JSON: nested too deeply"),
        (6, 5, "not a JSON object"),
        (8, 6, ""),
    ]


def real_hash(prefix: str, cost: int = 4) -> str:
    hashed = bcrypt.hashpw(b"x", bcrypt.gensalt(cost)).decode()
    return prefix + hashed[4:]


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_the_tutorials_hash_forms_are_accepted_and_verify(prefix: str) -> None:
    hashed = real_hash(prefix)
    assert BCRYPT_HASH.fullmatch(hashed)
    assert Passwords(FAST_FOR_TESTS).verify(hashed, "x")


def test_every_cost_bcrypt_allows_is_accepted() -> None:
    salt_and_hash = real_hash("$2b$")[7:]
    for cost in range(4, 32):
        assert BCRYPT_HASH.fullmatch(f"$2b${cost:02d}${salt_and_hash}")


def with_char(hashed: str, index: int, char: str) -> str:
    return hashed[:index] + char + hashed[index + 1 :]


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param(lambda h: "$2x$" + h[4:], id="2x-prefix"),
        pytest.param(lambda h: "$2$" + h[4:], id="2-prefix"),
        pytest.param(lambda h: "$argon2id$" + h[4:], id="argon2-prefix"),
        pytest.param(lambda h: h.replace("$04$", "$03$"), id="cost-3"),
        pytest.param(lambda h: h.replace("$04$", "$32$"), id="cost-32"),
        pytest.param(lambda h: h.replace("$04$", "$4$"), id="one-digit-cost"),
        pytest.param(lambda h: h[:-1], id="52-characters"),
        pytest.param(lambda h: h + "a", id="54-characters"),
        pytest.param(lambda h: h + "\n", id="trailing-newline"),
        pytest.param(lambda h: with_char(h, 10, "+"), id="standard-base64"),
        pytest.param(lambda h: with_char(h, 28, "P"), id="salt-padding-bits"),
        pytest.param(lambda h: with_char(h, 59, "P"), id="hash-padding-bits"),
        pytest.param(lambda h: " " + h, id="leading-space"),
        pytest.param(lambda h: "", id="empty"),
    ],
)
def test_a_password_that_is_not_a_usable_bcrypt_hash_is_refused(broken: object) -> None:
    hashed = broken(real_hash("$2b$"))  # type: ignore[operator]
    with pytest.raises(InvalidDocument, match="not a bcrypt hash"):
        user_from_document({"email": "ada@example.com", "password": hashed}, now=NOW)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        pytest.param({"email": None}, "no email or username field", id="no-email"),
        pytest.param({"email": 42}, "email is not a string", id="email-number"),
        pytest.param({"email": "ada"}, "email: the e-mail address is not valid", id="no-at"),
        pytest.param({"email": "\ud800@example.com"}, "not valid", id="lone-surrogate"),
        pytest.param({"username": "ada"}, "username: the e-mail", id="username-not-email"),
        pytest.param({"password": None}, "no password field", id="no-password"),
        pytest.param({"password": ["$2b$"]}, "not a bcrypt hash", id="password-list"),
        pytest.param({"createdAt": "2021-01-01"}, "time zone", id="plain-date-no-zone"),
        pytest.param({"createdAt": {"$date": "2021-01-01T00:00:00"}}, "time zone", id="naive"),
        pytest.param({"createdAt": {"$date": "soon"}}, "createdAt is not", id="bad-date"),
        pytest.param({"createdAt": {"$date": 10**20}}, "createdAt is not", id="huge-date"),
        pytest.param({"createdAt": {"$date": {"$numberLong": "x"}}}, "createdAt", id="bad-long"),
        pytest.param({"createdAt": {"$date": True}}, "createdAt is not", id="date-bool"),
        pytest.param({"_id": {"$oid": "123"}}, "_id is neither", id="short-oid"),
        pytest.param({"_id": 7}, "_id is neither", id="numeric-id"),
    ],
)
def test_a_document_with_an_unusable_field_is_refused(
    fields: dict[str, object], reason: str
) -> None:
    base: dict[str, object] = {"email": "ada@example.com", "password": real_hash("$2b$")}
    if "username" in fields:
        del base["email"]
    clean = {name: value for name, value in {**base, **fields}.items() if value is not None}
    with pytest.raises(InvalidDocument, match=re.escape(reason)):
        user_from_document(clean, now=NOW)


def test_a_document_without_id_or_date_gets_an_id_from_its_e_mail_and_the_import_time() -> None:
    hashed = real_hash("$2b$")
    first = user_from_document({"email": "Ada@example.com", "password": hashed}, now=NOW)
    again = user_from_document({"email": "ADA@EXAMPLE.com", "password": hashed}, now=NOW)
    assert first.id == again.id
    assert first.created_at == NOW


@pytest.mark.parametrize(
    "created",
    [
        pytest.param({"$date": "2021-03-04T05:06:07.089Z"}, id="relaxed"),
        pytest.param({"$date": {"$numberLong": "1614834367089"}}, id="canonical"),
        pytest.param({"$date": 1614834367089}, id="legacy-number"),
        pytest.param("2021-03-04T06:06:07.089+01:00", id="plain-iso-string"),
    ],
)
def test_every_date_form_gives_the_same_instant(created: object) -> None:
    user = user_from_document(
        {"email": "ada@example.com", "password": real_hash("$2b$"), "createdAt": created},
        now=NOW,
    )
    assert user.created_at == datetime(2021, 3, 4, 5, 6, 7, 89000, tzinfo=UTC)
