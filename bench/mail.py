"""Mail delivery throughput: the outbox of one `authgate serve` process to a local SMTP server.

Run: .venv/bin/python bench/mail.py [--mails 2000] [--rounds 3]

Once, a Service on a temporary SQLite file signs up `--mails` users (FAST_FOR_TESTS
hashing), which queues one verification mail each through the use case behind
POST /sign-up: the letter rendered from its templates, its link token and its envelope
written with the user in one transaction. Each round copies that database, starts an
aiosmtpd server in this process (it notes when each message arrives and its Message-ID,
and parses nothing else) and a real `authgate serve` with AUTHGATE_SMTP_URL pointing at
it, then waits until every mail has arrived.

- mails/s: (N - 1) ÷ (last arrival - first arrival), the sender's own pace, without the
  server's start;
- start to last mail: from starting the process to the last arrival (Python start-up,
  migrations check, the pacer's calibration, then the whole outbox);
- server CPU per mail: the process's CPU time over the round ÷ N.

The SMTP server shares the machine with authgate, as a local relay would. Writes
bench/results/mail.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "bench")]

import harness  # noqa: E402 - bench/harness.py, beside this script

from authgate.core.passwords import FAST_FOR_TESTS  # noqa: E402
from authgate.service import Service  # noqa: E402
from authgate.settings import Settings  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "mail.md"
PASSWORD = "correct horse battery staple"
PUBLIC_URL = "https://accounts.example.com"
MAIL_FROM = "Example Accounts <accounts@mail.example.com>"
MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.MULTILINE | re.IGNORECASE)
GIVE_UP = 600.0  # seconds a round may take before it is reported as failed


class Counter:
    """An SMTP handler that accepts everything and notes when each message arrived."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.arrivals: list[float] = []
        self.ids: set[bytes] = set()
        self.all_arrived = threading.Event()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.monotonic()
        found = MESSAGE_ID.search(envelope.content)
        with self._lock:
            self.arrivals.append(now)
            if found:
                self.ids.add(found.group(1))
            if len(self.arrivals) >= self.expected:
                self.all_arrived.set()
        return "250 OK"


@dataclass(frozen=True)
class Round:
    mails_per_second: float
    start_to_last: float
    cpu_per_mail_ms: float
    arrived: int
    distinct: int
    sent_in_outbox: int
    others: float


def queue_mail(folder: Path, count: int) -> Path:
    """A database holding `count` users, each with a verification mail waiting."""
    database = folder / "queued.db"
    settings = Settings(
        database_url=f"sqlite:///{database}", public_url=PUBLIC_URL, mail_from=MAIL_FROM
    )
    service = Service(settings, preset=FAST_FOR_TESTS)
    try:
        for n in range(count):
            service.sign_up(f"user{n}@example.com", PASSWORD)
        if service.parts.outbox.counts() != {"pending": count}:
            raise SystemExit(f"queued {service.parts.outbox.counts()}, not {count} pending")
    finally:
        service.close()
    return database


def copy_database(source: Path, target: Path) -> None:
    with (
        contextlib.closing(sqlite3.connect(source)) as original,
        contextlib.closing(sqlite3.connect(target)) as copy,
    ):
        original.backup(copy)


def sent_count(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        (count,) = db.execute("SELECT count(*) FROM outbox WHERE state = 'sent'").fetchone()
    return int(count)


@contextlib.contextmanager
def smtp_server(counter: Counter) -> Iterator[int]:
    port = harness.free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def one_round(queued: Path, folder: Path, count: int, number: int) -> Round:
    database = folder / f"round{number}.db"
    copy_database(queued, database)
    counter = Counter(count)
    with smtp_server(counter) as smtp_port, (folder / f"round{number}.log").open("ab") as log:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env |= {
            "AUTHGATE_DATABASE_URL": f"sqlite:///{database}",
            "AUTHGATE_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
            "AUTHGATE_MAIL_FROM": MAIL_FROM,
            "AUTHGATE_PUBLIC_URL": PUBLIC_URL,
        }
        command = [sys.executable, "-m", "authgate", "serve", "--port", str(harness.free_port())]
        clock = harness.CpuClock.now()
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log)  # noqa: S603 - this Python
        try:
            deadline = started + GIVE_UP
            while not counter.all_arrived.wait(0.2):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"round {number}: {len(counter.arrivals)} of {count} mails")
            server_cpu = harness.tree_cpu(process.pid)
            others = harness.CpuClock.now().others_since(clock, running=server_cpu)
        finally:
            harness.stop_server(process)
    arrivals = sorted(counter.arrivals)
    return Round(
        mails_per_second=(len(arrivals) - 1) / (arrivals[-1] - arrivals[0]),
        start_to_last=arrivals[-1] - started,
        cpu_per_mail_ms=server_cpu / count * 1000,
        arrived=len(arrivals),
        distinct=len(counter.ids),
        sent_in_outbox=sent_count(database),
        others=others,
    )


def report(rounds: list[Round], *, count: int, took: float, queue_seconds: float) -> str:
    command = " ".join([".venv/bin/python", "bench/mail.py", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Mail delivery: the outbox of one server to a local SMTP server",
        "",
        f"Reproduce with `{command}` (from the repository root). {len(rounds)} rounds of "
        f"{count:,} verification mails; run on {when}; took {took:.0f} s ({queue_seconds:.0f} s "
        "of it queueing the mail once).",
        "",
        f"- Machine: {harness.machine()}; the SMTP server (aiosmtpd, in the benchmark's "
        "process) and authgate share these cores over loopback.",
        f"- Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}, aiosmtplib "
        f"{harness.package_version('aiosmtplib')}, aiosmtpd {harness.package_version('aiosmtpd')}.",
        f"- authgate source: {harness.source_state()}; one `authgate serve` process "
        "(one uvicorn worker) on a SQLite file, settings at their defaults: batches of 20 "
        "messages per SMTP connection, bodies unsealed (no AUTHGATE_KEY_ENCRYPTION_KEY).",
        "- mails/s: (N - 1) ÷ (last arrival - first arrival), the sender's pace without the "
        "server's start; start to last mail: from starting the process to the last arrival; "
        "CPU per mail: the server process's CPU time over the round ÷ N.",
        harness.noise_line("round", [r.others for r in rounds]),
        "",
        f"**Median: {harness.num(harness.median([r.mails_per_second for r in rounds]))} "
        f"mails/s**, {harness.num(harness.median([r.cpu_per_mail_ms for r in rounds]))} ms "
        "of server CPU per mail.",
        "",
    ]
    rows = [
        [
            str(n),
            harness.num(r.mails_per_second),
            f"{r.start_to_last:.1f}",
            harness.num(r.cpu_per_mail_ms),
            f"{r.arrived:,} ({r.distinct:,} distinct Message-IDs)",
            f"{r.sent_in_outbox:,}",
            harness.pct(r.others),
        ]
        for n, r in enumerate(rounds, 1)
    ]
    header = [
        "round",
        "mails/s",
        "start to last mail (s)",
        "server CPU per mail (ms)",
        "arrived",
        "sent in the outbox",
        "other processes",
    ]
    lines += harness.table(header, rows)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--mails", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    begun = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="authgate-mail-bench-") as directory:
        folder = Path(directory)
        print(f"queueing {arguments.mails:,} verification mails", flush=True)
        queued = queue_mail(folder, arguments.mails)
        queue_seconds = time.monotonic() - begun
        rounds = []
        for number in range(1, arguments.rounds + 1):
            harness.wait_for_quiet(budget=30)
            result = one_round(queued, folder, arguments.mails, number)
            print(
                f"round {number}: {result.mails_per_second:,.0f} mails/s, "
                f"{result.start_to_last:.1f} s start to last mail",
                flush=True,
            )
            rounds.append(result)
    text = report(
        rounds, count=arguments.mails, took=time.monotonic() - begun, queue_seconds=queue_seconds
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n")
    print(text)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
