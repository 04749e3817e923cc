"""Users from a mongoexport of the Node tutorial's users collection, read and imported.

The export is JSON lines (mongoexport's default) or one JSON array (`--jsonArray`), in
MongoDB Extended JSON. Users keep their bcrypt hashes: the old password signs in and is
rehashed to argon2id then (core/passwords.py). Records stream through in batches, each
stored in one transaction; a user's id derives from its Mongo `_id`, so a second run finds
what the first stored instead of adding it again.

Why one module of about 450 lines: the streaming reader at its end (JSON lines, and a
JSON array read element by element in bounded memory) exists only for this import.
"""

from __future__ import annotations

import codecs
import itertools
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import BinaryIO, Literal

from authgate.core.clock import Clock
from authgate.core.passwords import BCRYPT_MAX_COST
from authgate.core.store import AuditEvent, AuditLog, User, UserId, UserStore
from authgate.core.users import email_key, normalize_email
from authgate.errors import InvalidEmail

# A hash as the Node tutorial's bcrypt wrote it: $2a$, $2b$ or $2y$, a two-digit cost from
# 04 to 31, then 22 characters of salt and 31 of hash in bcrypt's base64. The last
# character of each carries padding bits that must be zero: only `.Oeu` end a salt and
# 16 characters end a hash. Python's bcrypt refuses other salts, and no password could
# match other hashes, so such a user could never sign in. Costs above BCRYPT_MAX_COST are
# well-formed but refused: one check would hold a hashing thread for hours.
BCRYPT_HASH = re.compile(
    r"\$2[aby]\$(?:0[4-9]|[12][0-9]|3[01])\$"
    r"[./A-Za-z0-9]{21}[.Oeu][./A-Za-z0-9]{30}[.CGKOSWaeimquy26]"
)
# Imported users get id uuid5(MONGO_IDS, the ObjectId's hex): the same on every run, so
# re-runs are recognised, and apps can map their old user references to the new `sub`.
# A string `_id` maps from "string:" + the string, a missing one from "email:" + the
# lowercased e-mail: no two kinds of `_id` can give the same name, so never the same id.
MONGO_IDS = uuid.UUID("ef2bdd00-4056-4e25-90c5-ab2cfbc0f92a")
OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
BATCH_SIZE = 1000
CHUNK_SIZE = 1 << 16
MAX_DOCUMENT = 1 << 20  # a longer array element stops the reading; a longer line is skipped
JSON_SPACE = " \t\r\n"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Format = Literal["JSON lines", "JSON array"]


@dataclass(frozen=True, slots=True)
class Record:
    """One record of the export as read: its JSON object, or why it could not be read."""

    line: int  # the line it starts on
    number: int  # its place among the records, from 1
    document: Mapping[str, object] | None
    error: str = ""
    offset: int = 0  # bytes of the file read so far, for progress


@dataclass(frozen=True, slots=True)
class Problem:
    """A record that was not imported, and why. It never carries the password hash."""

    line: int
    record: int  # the record's place among the records, from 1
    kind: Literal["invalid", "duplicate"]
    reason: str
    email: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.line,
            "record": self.record,
            "kind": self.kind,
            "email": self.email,
            "reason": self.reason,
        }


@dataclass(slots=True)
class Tally:
    """What an import did so far. Every record counts once: imported, present, or a problem."""

    format: Format = "JSON lines"
    records: int = 0
    documents: int = 0  # records that were JSON objects
    imported: int = 0
    already_present: int = 0
    duplicates: int = 0
    invalid: int = 0
    bytes_read: int = 0


def import_users(
    stream: BinaryIO,
    store: UserStore,
    *,
    clock: Clock,
    audit: AuditLog,
    source: str,
    batch_size: int = BATCH_SIZE,
    on_problem: Callable[[Problem], None] = lambda problem: None,
    on_batch: Callable[[Tally], None] = lambda tally: None,
) -> Tally:
    """Store the export's new users, batch by batch; count and report every other record.

    A user is "already present" when a user with its id (from its `_id`) is stored, and a
    duplicate when its e-mail, in any letter case, is on an earlier line or belongs to
    another stored user. Existing users are never changed. Problems come out in file
    order, a batch at a time; users without `createdAt` are created at `clock()`.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    found, records = read_records(stream)
    tally = Tally(format=found)
    now = clock()
    first_lines: dict[str, int] = {}  # e-mail key or user id -> line it was first seen on
    pending: list[tuple[Record, User]] = []
    problems: list[Problem] = []
    for record in records:
        tally.records += 1
        tally.documents += record.document is not None
        tally.bytes_read = record.offset
        outcome = _screen(record, now=now, first_lines=first_lines)
        if isinstance(outcome, Problem):
            problems.append(outcome)
        else:
            pending.append((record, outcome))
        if len(pending) + len(problems) >= batch_size:
            _store_batch(store, pending, problems, tally, on_problem)
            on_batch(tally)
    _store_batch(store, pending, problems, tally, on_problem)
    on_batch(tally)
    if tally.documents == 0:
        return tally  # nothing was read: not an import worth an audit entry
    audit.record(
        AuditEvent(
            "users_imported",
            at=clock(),
            detail={
                "source": source,
                "imported": str(tally.imported),
                "already_present": str(tally.already_present),
                "duplicates": str(tally.duplicates),
                "invalid": str(tally.invalid),
            },
        )
    )
    return tally


def _screen(record: Record, *, now: datetime, first_lines: dict[str, int]) -> User | Problem:
    """The record's user, or the problem that keeps it out; remembers the users it let by."""
    if record.document is None:
        return Problem(record.line, record.number, "invalid", record.error)
    try:
        user = user_from_document(record.document, now=now)
    except InvalidDocument as exc:
        return Problem(record.line, record.number, "invalid", str(exc))
    key, user_id = "email " + email_key(user.email), "id " + user.id
    if key in first_lines:
        reason = f"the e-mail is on line {first_lines[key]} already"
    elif user_id in first_lines:
        reason = f"the _id is on line {first_lines[user_id]} already"
    else:
        first_lines[key] = first_lines[user_id] = record.line
        return user
    return Problem(record.line, record.number, "duplicate", reason, user.email)


def _store_batch(
    store: UserStore,
    pending: list[tuple[Record, User]],
    problems: list[Problem],
    tally: Tally,
    on_problem: Callable[[Problem], None],
) -> None:
    """Store the pending users in one transaction, then report this stretch's problems."""
    inserted = set(store.add_users([user for _, user in pending]))
    skipped = [(record, user) for record, user in pending if user.id not in inserted]
    present = store.existing_user_ids([user.id for _, user in skipped]) if skipped else set()
    tally.imported += len(inserted)
    for record, user in skipped:
        if user.id in present:
            tally.already_present += 1
        else:
            reason = "an account with this e-mail already exists"
            problems.append(Problem(record.line, record.number, "duplicate", reason, user.email))
    problems.sort(key=lambda problem: problem.record)
    for problem in problems:
        if problem.kind == "invalid":
            tally.invalid += 1
        else:
            tally.duplicates += 1
        on_problem(problem)
    pending.clear()
    problems.clear()


# -- one document -------------------------------------------------------------------------


class InvalidDocument(ValueError):
    """A record that is JSON but not a user this import can keep; says why, never the hash."""


def user_from_document(document: Mapping[str, object], *, now: datetime) -> User:
    """The user a mongoexport document describes.

    Raises:
        InvalidDocument: a field is missing or unusable.
    """
    field = "email" if "email" in document else "username"
    address = document.get(field)
    if address is None:
        raise InvalidDocument("no email or username field")
    if not isinstance(address, str):
        raise InvalidDocument(f"{field} is not a string")
    try:
        email = normalize_email(address)
    except InvalidEmail as exc:
        raise InvalidDocument(f"{field}: {exc}") from None
    password = document.get("password")
    if password is None:
        raise InvalidDocument("no password field")
    if not isinstance(password, str) or not BCRYPT_HASH.fullmatch(password):
        raise InvalidDocument("password is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31)")
    cost = int(password[4:6])  # BCRYPT_HASH holds two digits there
    if cost > BCRYPT_MAX_COST:
        raise InvalidDocument(
            f"bcrypt cost {cost} is above {BCRYPT_MAX_COST}, the most authgate verifies; "
            "create this user with `authgate users create` instead"
        )
    return User(
        id=_user_id(document.get("_id"), email),
        email=email,
        password_hash=password,
        created_at=_instant(document.get("createdAt"), default=now),
    )


def _user_id(value: object, email: str) -> UserId:
    if value is None:  # a hand-made export: the e-mail is the only stable identity
        return UserId(str(uuid.uuid5(MONGO_IDS, "email:" + email_key(email))))
    if isinstance(value, Mapping) and value.keys() == {"$oid"}:
        oid = value["$oid"]
        if isinstance(oid, str) and OBJECT_ID.fullmatch(oid):
            return UserId(str(uuid.uuid5(MONGO_IDS, oid.lower())))
    elif isinstance(value, str) and value:
        try:
            return UserId(str(uuid.uuid5(MONGO_IDS, "string:" + value)))
        except UnicodeEncodeError:
            raise InvalidDocument("_id contains unpaired surrogate characters") from None
    raise InvalidDocument("_id is neither an ObjectId nor a string")


def _instant(value: object, *, default: datetime) -> datetime:
    """An Extended JSON date: {"$date": ISO-8601}, {"$date": {"$numberLong": ms}}, {"$date": ms}."""
    if value is None:
        return default
    # Also plain ISO-8601 strings and millisecond numbers, as other tools write them.
    date = value["$date"] if isinstance(value, Mapping) and value.keys() == {"$date"} else value
    try:
        if isinstance(date, Mapping) and date.keys() == {"$numberLong"}:
            milliseconds = date["$numberLong"]
            if isinstance(milliseconds, str):
                return EPOCH + timedelta(milliseconds=int(milliseconds))
        elif isinstance(date, int) and not isinstance(date, bool):
            return EPOCH + timedelta(milliseconds=date)
        elif isinstance(date, str):
            instant = datetime.fromisoformat(date)
            if instant.tzinfo is not None:
                return instant.astimezone(UTC)
    except (ValueError, OverflowError):
        pass
    raise InvalidDocument("createdAt is not an Extended JSON date with a time zone")


# -- reading the file ---------------------------------------------------------------------


def read_records(stream: BinaryIO) -> tuple[Format, Iterator[Record]]:
    """The export's format, and its records one at a time as the file streams in.

    A line that is not a JSON object, or longer than MAX_DOCUMENT, is one bad record. In an
    array, the first bad element ends the reading: there is no telling where the next one
    starts. Memory stays bounded by MAX_DOCUMENT whatever the file holds.
    """
    # Leading blank lines are counted, not kept. readline(), not read(): a pipe would wait
    # for a whole chunk.
    line, offset = 1, 0
    head = stream.readline(CHUNK_SIZE).removeprefix(codecs.BOM_UTF8)
    while not head.strip(JSON_SPACE.encode()):
        if not head:
            return "JSON lines", iter(())
        line, offset = line + head.count(b"\n"), offset + len(head)
        head = stream.readline(CHUNK_SIZE)
    if head.lstrip(JSON_SPACE.encode()).startswith(b"["):
        chunks = itertools.chain([head], iter(lambda: stream.read(CHUNK_SIZE), b""))
        return "JSON array", _array_records(_Text(chunks, line=line, offset=offset))
    return "JSON lines", _line_records(_lines(head, stream), first=line, offset=offset)


def _lines(head: bytes, stream: BinaryIO) -> Iterator[bytes | int]:
    """The lines from `head` on, each with its "\\n"; a line over MAX_DOCUMENT as its length.

    A line too long is read on in chunks and dropped, never held whole.
    """
    line = head
    while True:
        if not line.endswith(b"\n"):
            line += stream.readline(MAX_DOCUMENT + 1 - len(line))
        if not line:
            return
        if line.endswith(b"\n") or len(line) <= MAX_DOCUMENT:  # shorter: the file ended
            yield line
        else:
            size, line = len(line), b""
            while chunk := stream.readline(CHUNK_SIZE):
                size += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            yield size
        line = b""


def _line_records(lines: Iterator[bytes | int], *, first: int, offset: int) -> Iterator[Record]:
    """A record per line that is not blank; `lines` start on line `first`, at byte `offset`."""
    number = 0
    for line, raw in enumerate(lines, start=first):
        if isinstance(raw, int):
            offset += raw
            number += 1
            yield Record(line, number, None, f"line longer than {MAX_DOCUMENT >> 20} MiB", offset)
            continue
        offset += len(raw)
        if not raw.strip():
            continue
        number += 1
        try:
            value = json.loads(raw.rstrip(b"\r\n").decode("utf-8"))
        except UnicodeDecodeError:
            yield Record(line, number, None, "not UTF-8 text", offset)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} (column {exc.colno})"
            yield Record(line, number, None, reason, offset)
        except RecursionError:
            yield Record(line, number, None, "not valid JSON: nested too deeply", offset)
        else:
            if isinstance(value, dict):
                yield Record(line, number, value, "", offset)
            else:
                yield Record(line, number, None, "not a JSON object", offset)


def _array_records(text: _Text) -> Iterator[Record]:
    done = 0  # records yielded; a failure is always about the next one
    try:
        text.peek()
        text.step()  # the "[" read_records saw
        if text.peek() == "]":
            text.step()  # an empty array
        else:
            while True:
                if text.peek() == "":
                    raise json.JSONDecodeError("the array is not closed", "", 0)
                line, value = text.line, text.take()
                done += 1
                if isinstance(value, dict):
                    yield Record(line, done, value, "", text.offset)
                else:
                    yield Record(line, done, None, "not a JSON object", text.offset)
                after = text.peek()
                if after == "":
                    raise json.JSONDecodeError("the array is not closed", "", 0)
                if after not in (",", "]"):
                    raise json.JSONDecodeError("expected ',' or ']' after a record", "", 0)
                text.step()
                if after == "]":
                    break
        if text.peek() != "":
            raise json.JSONDecodeError("more text after the array", "", 0)
    except UnicodeDecodeError:
        reason = "not UTF-8 text; the rest of the file was not read"
        yield Record(text.line, done + 1, None, reason, text.offset)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg}; the rest of the file was not read"
        yield Record(text.line, done + 1, None, reason, text.offset)
    except RecursionError:
        reason = "not valid JSON: nested too deeply; the rest of the file was not read"
        yield Record(text.line, done + 1, None, reason, text.offset)


class _Text:
    """UTF-8 text decoded from chunks as it is consumed; only the unconsumed part is kept."""

    def __init__(self, chunks: Iterator[bytes], *, line: int = 1, offset: int = 0) -> None:
        self._chunks = chunks
        self._utf8 = codecs.getincrementaldecoder("utf-8")()
        self._decoder = json.JSONDecoder()
        self._text = ""
        self._at = 0
        self._ended = False
        self.line = line
        self.offset = offset  # bytes read

    def peek(self) -> str:
        """Skip JSON whitespace; the next character, or "" at the end of the stream."""
        while True:
            while self._at < len(self._text) and self._text[self._at] in JSON_SPACE:
                self.line += self._text[self._at] == "\n"
                self._at += 1
            if self._at < len(self._text):
                return self._text[self._at]
            if not self._fill():
                return ""

    def step(self) -> None:
        """Consume the character peek() returned."""
        self._at += 1

    def take(self) -> object:
        """Decode the JSON value that starts here, reading on as far as it needs."""
        while True:
            try:
                value, end = self._decoder.raw_decode(self._text, self._at)
            except json.JSONDecodeError:
                if len(self._text) - self._at > MAX_DOCUMENT or not self._fill():
                    raise
                continue
            if end == len(self._text) and self._fill():
                continue  # a number or literal may go on in the next chunk
            self.line += self._text.count("\n", self._at, end)
            self._at = end
            return value

    def _fill(self) -> bool:
        """Read the next chunk; False at the end of the stream."""
        if self._ended:
            return False
        chunk = next(self._chunks, b"")
        self._ended = not chunk
        self.offset += len(chunk)
        self._text = self._text[self._at :] + self._utf8.decode(chunk, final=self._ended)
        self._at = 0
        return True
