"""Import 100,000 of the Node tutorial's users with the real command, on SQLite and PostgreSQL.

    .venv/bin/python bench/import_users.py [--users 100000] [--sample 20] [--passwords 8]

1. Writes a mongoexport of the tutorial's users collection, as `mongoexport --collection
   users` writes it: JSON lines in relaxed Extended JSON (`{"_id": {"$oid": …}}`,
   `{"createdAt": {"$date": "…Z"}}`, `__v`), and the same documents as one JSON array
   (`--jsonArray`). The hashes are real bcrypt at cost 10, as node.bcrypt stored them, but
   100,000 of them would take about 100 minutes on this machine (~60 ms each), so
   `--passwords` distinct passwords are hashed once each and shared: user i has password
   i mod N. The import checks each hash's form and never hashes, so sharing changes
   nothing it measures; the sign-ins below verify real hashes.
2. For each database, a fresh SQLite file and a fresh database on a throwaway PostgreSQL
   cluster (tests/services.py, fsync off, as bench/scale.py uses it): creates the schema
   and the first signing key (`authgate keys list`), then times `python -m authgate users
   import FILE` as a process (startup included; its peak RSS from wait4), then the same
   command again, when every user is already present, then the JSON array form into
   another fresh database.
3. Signs in `--sample` random users through the real Service (authgate's default
   argon2id parameters): the first sign-in checks the bcrypt hash and rehashes it to
   argon2id, the second checks the argon2id hash. Every one must succeed.

Writes bench/results/import.md; the export and the SQLite files stay in a scratch folder
that is removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from authgate.core.passwords import RECOMMENDED  # noqa: E402 - after the path set-up
from authgate.service import Service  # noqa: E402
from authgate.settings import Settings  # noqa: E402
from services import Postgres  # noqa: E402 - tests/services.py, found through sys.path above

RESULTS = ROOT / "bench" / "results" / "import.md"
BCRYPT_COST = 10  # node.bcrypt's usual cost, and the tutorial's


@dataclass(frozen=True)
class Run:
    database: str
    form: str
    what: str  # "first import" or "re-run"
    seconds: float
    peak_rss_mib: float
    summary: dict[str, int]


@dataclass(frozen=True)
class SignIns:
    database: str
    sampled: int
    succeeded: int
    rehashed: int
    first_ms: float  # median: bcrypt check + argon2id rehash
    next_ms: float  # median: argon2id check


def passwords(count: int) -> list[tuple[str, str]]:
    """(password, bcrypt hash at cost 10) pairs, each hashed once with its own salt."""
    pairs = []
    for i in range(count):
        password = f"tutorial password {i}"
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
        pairs.append((password, hashed))
    return pairs


def email(i: int) -> str:
    return f"user{i}@example.com"


def documents(users: int, hashes: list[tuple[str, str]]) -> Iterator[dict[str, object]]:
    start = datetime(2020, 1, 1, tzinfo=UTC)
    for i in range(users):
        created = {"$date": f"{start + timedelta(minutes=7 * i):%Y-%m-%dT%H:%M:%S.000Z}"}
        yield {
            "_id": {"$oid": f"{0x5E0C0000 + i:08x}{i:016x}"},  # timestamp, then a counter
            "email": email(i),
            "password": hashes[i % len(hashes)][1],
            "createdAt": created,
            "updatedAt": created,
            "__v": 0,
        }


def write_exports(folder: Path, users: int, hashes: list[tuple[str, str]]) -> dict[str, Path]:
    lines, array = folder / "users.json", folder / "users-array.json"
    with lines.open("w") as out:
        for doc in documents(users, hashes):
            out.write(json.dumps(doc, separators=(",", ":")) + "\n")
    with array.open("w") as out:
        out.write("[")
        for i, doc in enumerate(documents(users, hashes)):
            out.write(("," if i else "") + json.dumps(doc, separators=(",", ":")))
        out.write("]")
    return {"JSON lines": lines, "JSON array": array}


def authgate(args: list[str], *, url: str, cwd: Path) -> tuple[float, float, str]:
    """Run `python -m authgate ARGS`; (wall seconds, peak RSS in MiB, stdout)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    env["AUTHGATE_DATABASE_URL"] = url
    started = time.perf_counter()
    process = subprocess.Popen(  # noqa: S603 - our own command, this interpreter
        [sys.executable, "-m", "authgate", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)  # the summary is small: no pipe fills up
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stdout is not None  # noqa: S101 - piped
    assert process.stderr is not None  # noqa: S101 - piped
    out, err = process.stdout.read().decode(), process.stderr.read().decode()
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"authgate {' '.join(args)} exited {process.returncode}: {err}")
    return elapsed, usage.ru_maxrss / 1024, out


def summary(output: str) -> dict[str, int]:
    found = {}
    for label in ("imported", "already present", "duplicates", "invalid"):
        line = next(line for line in output.splitlines() if line.strip().startswith(label))
        found[label] = int(line.split()[-1].replace(",", ""))
    return found


def import_into(database: str, url: str, form: str, export: Path, *, what: str) -> Run:
    elapsed, rss, out = authgate(["users", "import", str(export)], url=url, cwd=export.parent)
    run = Run(database, form, what, elapsed, rss, summary(out))
    print(run, flush=True)
    return run


def sign_in_sample(
    database: str, url: str, users: int, hashes: list[tuple[str, str]], sample: int
) -> SignIns:
    rng = random.Random(2024)
    chosen = rng.sample(range(users), sample)
    service = Service(Settings(database_url=url), preset=RECOMMENDED)
    succeeded = rehashed = 0
    first, again = [], []
    try:
        for i in chosen:
            password = hashes[i % len(hashes)][0]
            started = time.perf_counter()
            signed_in = service.sign_in(email(i), password)
            first.append(time.perf_counter() - started)
            stored = service.parts.store.user_by_email(email(i))
            rehashed += stored is not None and stored.password_hash.startswith("$argon2id$")
            started = time.perf_counter()
            service.sign_in(email(i), password)
            again.append(time.perf_counter() - started)
            succeeded += signed_in.claims.email == email(i)
    finally:
        service.close()
    return SignIns(
        database,
        sample,
        succeeded,
        rehashed,
        statistics.median(first) * 1000,
        statistics.median(again) * 1000,
    )


def report(
    args: argparse.Namespace,
    runs: list[Run],
    sign_ins: list[SignIns],
    startups: dict[str, float],
    exports: dict[str, Path],
    versions: list[str],
    *,
    took: float,
    load: tuple[float, float, float],
) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        "# Importing the Node tutorial's users (mongoexport)",
        "",
        f"Reproduce with `.venv/bin/python bench/import_users.py --users {args.users} "
        f"--sample {args.sample} --passwords {args.passwords}` (from the repository root; "
        f"needs PostgreSQL's binaries). Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"took {took / 60:.1f} min. One run of each; no repetitions.",
        "",
        f"- Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}; "
        f"load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the end "
        "(the machine is shared: other work runs beside the benchmark).",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        + "; ".join(versions)
        + ".",
        f"- The export: {args.users:,} users in relaxed Extended JSON, "
        + ", ".join(
            f"{form} {path.stat().st_size / 2**20:.1f} MiB" for form, path in exports.items()
        )
        + f". Hashes: bcrypt cost {BCRYPT_COST}, {args.passwords} distinct passwords hashed once "
        "each and shared (user i has password i mod "
        f"{args.passwords}), since {args.users:,} cost-10 hashes would take over an hour; the "
        "import checks a hash's form and never hashes, so this changes nothing it measures.",
        "- Each time is one `python -m authgate users import FILE` process, wall clock, startup "
        "included; the schema and signing key were made before, by `authgate keys list`. "
        "Starting a command and opening the service (`authgate keys list` again) took "
        + ", ".join(f"{seconds:.2f} s on {name}" for name, seconds in startups.items())
        + "; the net column subtracts it. Batches of 1,000 users per transaction (the "
        "default). Peak RSS is the import process's, from wait4.",
        "",
        "| database | file | run | seconds | users/s | users/s net of startup | peak RSS MiB "
        "| imported | already present | duplicates | invalid |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        counts = run.summary
        rate = args.users / run.seconds
        net = args.users / max(run.seconds - startups[run.database], 1e-9)
        lines.append(
            f"| {run.database} | {run.form} | {run.what} | {run.seconds:.1f} | {rate:,.0f} | "
            f"{net:,.0f} | {run.peak_rss_mib:.0f} | {counts['imported']:,} | "
            f"{counts['already present']:,} | {counts['duplicates']:,} | {counts['invalid']:,} |"
        )
    lines += [
        "",
        "## Sign-ins after the import",
        "",
        f"{args.sample} users picked at random (seed 2024), each signed in twice through "
        "`Service.sign_in` with authgate's default argon2id parameters (m=19 MiB, t=2, p=1): "
        "the first checks the imported bcrypt hash and rehashes the password to argon2id, "
        "the second checks the new argon2id hash.",
        "",
        "| database | sampled | signed in | rehashed to argon2id | first sign-in ms (median) "
        "| next sign-in ms (median) |",
        "|---|---|---|---|---|---|",
    ]
    for s in sign_ins:
        lines.append(
            f"| {s.database} | {s.sampled} | {s.succeeded} | {s.rehashed} | "
            f"{s.first_ms:.0f} | {s.next_ms:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--passwords", type=int, default=8)
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()
    folder = Path(tempfile.mkdtemp(prefix="authgate-import-"))
    postgres = Postgres().start()
    try:
        print(f"hashing {args.passwords} passwords at bcrypt cost {BCRYPT_COST}", flush=True)
        hashes = passwords(args.passwords)
        exports = write_exports(folder, args.users, hashes)
        with psycopg.connect(postgres.conninfo("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        versions = [f"PostgreSQL {row[0] if row else '?'} (fsync off: a throwaway cluster)"]
        runs: list[Run] = []
        sign_ins: list[SignIns] = []
        startups: dict[str, float] = {}
        for database in ("SQLite", "PostgreSQL"):
            urls = {}
            for form in exports:
                name = f"import_{len(urls)}"
                if database == "SQLite":
                    urls[form] = f"sqlite:///{folder / (name + '.db')}"
                else:
                    urls[form] = postgres.create_database(name)
                authgate(["keys", "list"], url=urls[form], cwd=folder)
            # A command that opens the service and does nothing: the import's fixed cost.
            startups[database] = authgate(["keys", "list"], url=urls["JSON lines"], cwd=folder)[0]
            for form, what in (
                ("JSON lines", "first import"),
                ("JSON lines", "re-run"),
                ("JSON array", "first import"),
            ):
                runs.append(import_into(database, urls[form], form, exports[form], what=what))
            lines_url = urls["JSON lines"]
            sign_ins.append(sign_in_sample(database, lines_url, args.users, hashes, args.sample))
            print(sign_ins[-1], flush=True)
        took = time.perf_counter() - started
        RESULTS.write_text(
            report(args, runs, sign_ins, startups, exports, versions, took=took, load=load)
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}")
    finally:
        postgres.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
