"""Scale-out benchmark: a second worker, PostgreSQL, and how fast a sign-out reaches a peer.

    .venv/bin/python bench/scale.py [--rounds 3] [--duration 10]
        [--only test,token,revocation] [--samples 100]

Three questions, each answered by real `python -m authgate serve` processes on 127.0.0.1:

- test: GET /test req/s with 1 and with 2 uvicorn workers, same settings for both (a fresh
  SQLite file and Redis, since 2 workers need Redis), `wrk -t2 -c64` as bench/http/run.py
  runs it. Halfway through each run the script counts which server process holds each of
  wrk's connections: workers share one listening socket, so the split is not guaranteed.
- token: POST /token rotations/s on SQLite and on PostgreSQL (1 worker, no Redis), with 16
  refresh-token chains through bench/http/refresh.lua, as in run.py's POST /token step.
- revocation: two server processes A and B on one database. A user signs in N times on A;
  then, one session at a time, A signs it out and B is asked GET /test with its access
  token in a tight keep-alive loop; the delay runs from A's 204 to B's first 401. Modes:
  Redis pub/sub and PostgreSQL LISTEN/NOTIFY (poll interval 60 s, so only the push can
  deliver in time) and, for reference, the SQLite-only fallback (a shared file, 1 s poll).

The machine is small and shared, so every round measures every variant of a question back
to back (order rotated from round to round) on fresh servers and databases; the report gives
medians over rounds and ratios taken round by round, then their median.

It reuses bench/harness.py's wrk and process helpers, bench/http's Lua scripts and sign-in,
and the test suite's throwaway PostgreSQL and Redis servers (tests/services.py): one cluster
and one Redis for the whole run, a fresh database per variant, Redis flushed before each
variant that uses it. The report goes to bench/results/scale.md; logs and raw wrk output
stay in a scratch folder.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench" / "http")]

import harness  # noqa: E402 - bench/harness.py, beside this script
import run as http_bench  # noqa: E402 - bench/http/run.py, found through sys.path above

from services import Postgres, Redis  # noqa: E402 - tests/services.py, likewise

NAN = math.nan
RESULTS = http_bench.RESULTS
CREDENTIALS = {"email": http_bench.EMAIL, "password": http_bench.PASSWORD}
TEST_THREADS, TEST_CONNECTIONS = 2, 64  # GET /test, as bench/http/run.py
CHAINS = http_bench.CHAINS  # POST /token: one chain per wrk thread and connection
SETTLE = http_bench.SETTLE  # seconds between setting up and measuring
START_TIMEOUT = 60.0
GIVE_UP = 5.0  # seconds B may keep answering 200 after A's sign-out before a sample fails
FAILURES_IN_A_ROW = 5  # then the mode is broken: skip its other samples (saves the budget)
PUSH_POLL_INTERVAL = 60  # seconds: the catch-up poll cannot deliver within GIVE_UP
QUIET_WAIT = 10.0  # before each variant, wait up to this long for a quieter machine
QUIET_BUDGET = 120.0  # and no longer than this in the whole run
MEASUREMENTS = ("test", "token", "revocation")


# --- variants and services ----------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    workers: int = 1
    postgresql: bool = False  # else a SQLite file
    redis: bool = False
    poll_interval: int = 1  # AUTHGATE_REVOCATION_POLL_INTERVAL, seconds
    pause: float = 0.0  # revocation: random pause (0 to this, s) before each sign-out

    @property
    def setup(self) -> str:
        parts = [
            f"{self.workers} worker{'s' if self.workers > 1 else ''}",
            "PostgreSQL" if self.postgresql else "SQLite file",
            "Redis" if self.redis else "no Redis",
            f"poll every {self.poll_interval} s",
        ]
        return ", ".join(parts)


VARIANTS: dict[str, tuple[Variant, ...]] = {
    "test": (
        Variant("1-worker", "1 worker", workers=1, redis=True),
        Variant("2-workers", "2 workers", workers=2, redis=True),
    ),
    "token": (
        Variant("sqlite", "SQLite"),
        Variant("postgresql", "PostgreSQL", postgresql=True),
    ),
    "revocation": (
        Variant(
            "redis",
            "redis",
            postgresql=True,
            redis=True,
            poll_interval=PUSH_POLL_INTERVAL,
            pause=0.05,
        ),
        Variant(
            "listen-notify",
            "listen-notify",
            postgresql=True,
            poll_interval=PUSH_POLL_INTERVAL,
            pause=0.05,
        ),
        # The pause spans one poll interval, so sign-outs land at random points of the cycle
        # (right after a 401, the next poll is a whole interval away).
        Variant("poll", "poll", poll_interval=1, pause=1.0),
    ),
}


class Services:
    """The PostgreSQL cluster and Redis server the chosen variants need, started once."""

    def __init__(self, variants: Sequence[Variant]) -> None:
        self.postgres = Postgres() if any(v.postgresql for v in variants) else None
        self.redis = Redis() if any(v.redis for v in variants) else None

    def __enter__(self) -> Services:
        try:
            if self.postgres is not None:
                self.postgres.start()
            if self.redis is not None:
                self.redis.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
        if self.redis is not None:
            self.redis.stop()

    def cpu_seconds(self) -> float:
        """CPU time PostgreSQL and Redis used so far, ended backends included."""
        return sum(
            harness.tree_cpu(server.process.pid)
            for server in (self.postgres, self.redis)
            if server is not None and server.process is not None
        )

    def settings(self, variant: Variant, folder: Path, database: str) -> dict[str, str]:
        """AUTHGATE_* settings for `variant`: a fresh database `database`, Redis flushed."""
        settings = {
            "AUTHGATE_REVOCATION_POLL_INTERVAL": str(variant.poll_interval),
            "AUTHGATE_THROTTLE_SIGN_UP": http_bench.GENEROUS,
            "AUTHGATE_THROTTLE_SIGN_IN_IP": http_bench.GENEROUS,
            "AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT": http_bench.GENEROUS,
            "AUTHGATE_THROTTLE_TOKEN": http_bench.GENEROUS,
        }
        if variant.postgresql:
            assert self.postgres is not None  # noqa: S101 - started for every such variant
            settings["AUTHGATE_DATABASE_URL"] = self.postgres.create_database(database)
        else:
            settings["AUTHGATE_DATABASE_URL"] = f"sqlite:///{folder / 'authgate.db'}"
        if variant.redis:
            assert self.redis is not None  # noqa: S101 - likewise
            self.redis.flush()
            settings["AUTHGATE_REDIS_URL"] = self.redis.url
        return settings

    def versions(self) -> list[str]:
        found = []
        if self.postgres is not None:
            with psycopg.connect(self.postgres.conninfo("postgres")) as conn:
                row = conn.execute("SHOW server_version").fetchone()
            found.append(f"PostgreSQL {row[0] if row else '?'} (fsync off: a throwaway cluster)")
        if self.redis is not None:
            with redis.Redis.from_url(self.redis.url) as client:
                found.append(f"Redis {client.info('server')['redis_version']}")
        return found


class Authgate:
    """One `python -m authgate serve` process; ready once GET /health answers 200."""

    def __init__(self, name: str, folder: Path, settings: dict[str, str], workers: int) -> None:
        self.name = name
        self.folder = folder
        self.settings = settings
        self.workers = workers
        self.port = harness.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None  # noqa: S101 - started
        return self.process.pid

    def __enter__(self) -> Authgate:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env.update(self.settings)
        command = [sys.executable, "-m", "authgate", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / f"{self.name}.log").open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own server, this interpreter
                command, cwd=self.folder, env=env, stdout=subprocess.DEVNULL, stderr=log
            )
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_healthy(self) -> None:
        assert self.process is not None  # noqa: S101 - started
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server {self.name} exited with status {self.process.returncode}"
                    f" (see {self.name}.log)"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"server {self.name} not healthy within {START_TIMEOUT:.0f} s")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGINT (as Ctrl-C), then harness.stop_server: SIGTERM, SIGKILL, leftover workers."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        harness.stop_server(self.process)


def connections_per_process(server_pid: int, port: int) -> tuple[int, ...]:
    """Established connections to `port` held by each process of the server, most first."""
    established = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local_port = int(fields[1].rsplit(":", 1)[1], 16)
                if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
                    established.add(f"socket:[{fields[9]}]")
    counts = []
    for pid in harness.process_tree(server_pid):
        held = 0
        with contextlib.suppress(OSError):
            for descriptor in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    held += os.readlink(descriptor) in established
        if held:
            counts.append(held)
    return tuple(sorted(counts, reverse=True))


@contextlib.contextmanager
def wrk_running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[str]]:
    """harness.start_wrk, with wrk killed if the block ends before finish_wrk."""
    process = harness.start_wrk(command, env, log)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- the three measurements ---------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """One wrk run: answers that count, per second; p99; errors; connections per process."""

    per_second: float = NAN
    p99_ms: float = NAN
    errors: int = 0
    connections: tuple[int, ...] = ()
    others_cpu: float = NAN

    @classmethod
    def of(cls, result: harness.WrkResult, connections: tuple[int, ...] = ()) -> Rate:
        return cls(result.ok_per_second, result.p99_ms, result.errors, connections)


@dataclass(frozen=True)
class Propagation:
    """Revocation delays in ms (samples that saw a 401 in time) and samples that did not."""

    delays_ms: tuple[float, ...] = ()
    failures: int = 0
    skipped: int = 0  # after FAILURES_IN_A_ROW failures in a row
    others_cpu: float = NAN


Result = Rate | Propagation


@dataclass
class Run:
    args: argparse.Namespace
    services: Services
    scratch: Path
    rates: dict[str, list[Rate]] = field(default_factory=dict)
    propagations: dict[str, list[Propagation]] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    incidents: list[str] = field(default_factory=list)


def measure_test(run: Run, variant: Variant, folder: Path, database: str) -> Rate:
    duration: int = run.args.duration
    settings = run.services.settings(variant, folder, database)
    with Authgate("server", folder, settings, variant.workers) as server:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            http.post("/sign-up", json=CREDENTIALS).raise_for_status()
            access = http_bench.sign_in(http)["access_token"]
            http.get("/test", headers=bearer(access)).raise_for_status()
        time.sleep(SETTLE)
        command = harness.wrk_command(
            TEST_THREADS,
            TEST_CONNECTIONS,
            duration,
            "report.lua",
            f"{server.url}/test",
            f"Authorization: Bearer {access}",
        )
        log = folder / "wrk-test.txt"
        with wrk_running(command, {}, log) as wrk:
            time.sleep(duration / 2)
            connections = connections_per_process(server.pid, server.port)
            result = harness.finish_wrk(wrk, duration, log)
    rate = Rate.of(result, connections)
    print(
        f"    GET /test  {harness.num(rate.per_second)} req/s, p99"
        f" {harness.ms(rate.p99_ms)} ms, errors {rate.errors},"
        f" connections per process {split(rate.connections)}",
        flush=True,
    )
    return rate


def measure_token(run: Run, variant: Variant, folder: Path, database: str) -> Rate:
    duration: int = run.args.duration
    settings = run.services.settings(variant, folder, database)
    with Authgate("server", folder, settings, variant.workers) as server:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            http.post("/sign-up", json=CREDENTIALS).raise_for_status()
            chains = [http_bench.sign_in(http)["refresh_token"] for _ in range(CHAINS)]
        tokens_file = folder / "refresh-tokens.txt"
        tokens_file.write_text("\n".join(chains) + "\n")
        time.sleep(SETTLE)
        result = harness.run_wrk(
            harness.wrk_command(CHAINS, CHAINS, duration, "refresh.lua", f"{server.url}/token"),
            duration,
            folder / "wrk-token.txt",
            {
                "BENCH_TOKENS_FILE": str(tokens_file),
                "BENCH_BODY_KEY": "refresh_token",
                "BENCH_ROTATES": "1",
            },
        )
    rate = Rate.of(result)
    print(
        f"    POST /token  {harness.num(rate.per_second)} rotations/s, p99"
        f" {harness.ms(rate.p99_ms)} ms, errors {rate.errors}",
        flush=True,
    )
    return rate


def measure_revocation(run: Run, variant: Variant, folder: Path, database: str) -> Propagation:
    samples: int = run.args.samples
    settings = run.services.settings(variant, folder, database)
    # A first: it creates the schema and the signing key, which B then reads.
    with (
        Authgate("A", folder, settings, 1) as a,
        Authgate("B", folder, settings, 1) as b,
        httpx.Client(base_url=a.url, timeout=60) as on_a,
        httpx.Client(base_url=b.url, timeout=GIVE_UP) as on_b,
    ):
        on_a.post("/sign-up", json=CREDENTIALS).raise_for_status()
        print(f"    signing in {samples} times on A", flush=True)
        tokens = [http_bench.sign_in(on_a)["access_token"] for _ in range(samples)]
        for token in tokens:
            on_b.get("/test", headers=bearer(token)).raise_for_status()
        delays: list[float] = []
        failures = in_a_row = 0
        for token in tokens:
            time.sleep(random.uniform(0, variant.pause))
            answer = on_a.post("/sign-out", headers=bearer(token))
            signed_out = time.perf_counter()
            if answer.status_code != 204:
                raise RuntimeError(f"A answered {answer.status_code} to POST /sign-out")
            delay = time_until_refused(on_b, token, signed_out)
            if delay is not None:
                delays.append(delay * 1000)
                in_a_row = 0
                continue
            failures += 1
            in_a_row += 1
            if in_a_row == FAILURES_IN_A_ROW:
                break
    propagation = Propagation(tuple(delays), failures, skipped=samples - len(delays) - failures)
    print(
        f"    delay  median {harness.num(harness.median(delays))} ms,"
        f" p95 {harness.num(percentile(delays, 0.95))} ms,"
        f" max {harness.num(max(delays, default=NAN))} ms;"
        f" {len(delays)} measured, {failures} failed, {propagation.skipped} skipped",
        flush=True,
    )
    return propagation


def time_until_refused(client: httpx.Client, token: str, since: float) -> float | None:
    """Seconds from `since` to the first 401 for `token`, or None after GIVE_UP seconds."""
    while True:
        status = client.get("/test", headers=bearer(token)).status_code
        now = time.perf_counter()
        if status == 401:
            return max(0.0, now - since)
        if status != 200:
            raise RuntimeError(f"B answered {status} to GET /test")
        if now - since > GIVE_UP:
            return None


MEASURE: dict[str, Callable[[Run, Variant, Path, str], Result]] = {
    "test": measure_test,
    "token": measure_token,
    "revocation": measure_revocation,
}


def run_rounds(run: Run, chosen: Sequence[str]) -> None:
    quiet_spent = 0.0
    for round_no in range(1, run.args.rounds + 1):
        run.sources.append(harness.source_state())
        for measurement in chosen:
            variants = VARIANTS[measurement]
            shift = (round_no - 1) % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                print(
                    f"[round {round_no}/{run.args.rounds}] {measurement}: {variant.label}",
                    flush=True,
                )
                waited = time.monotonic()
                harness.wait_for_quiet(min(QUIET_WAIT, max(0.0, QUIET_BUDGET - quiet_spent)))
                quiet_spent += time.monotonic() - waited
                measure_variant(run, measurement, variant, round_no)


def measure_variant(run: Run, measurement: str, variant: Variant, round_no: int) -> None:
    """Measure one variant once; a failure becomes an incident and a round without figures."""
    folder = run.scratch / f"r{round_no}-{measurement}-{variant.key}"
    database = f"scale_r{round_no}_{measurement}_{variant.key.replace('-', '_')}"
    clock, services_start = harness.CpuClock.now(), run.services.cpu_seconds()
    result: Result
    try:
        result = MEASURE[measurement](run, variant, folder, database)
    except Exception as exc:  # a broken variant is reported, not fatal
        print(f"    FAILED: {exc}; logs in {folder}", flush=True)
        run.incidents.append(f"round {round_no}, {measurement} {variant.label}: {exc}")
        result = Propagation() if measurement == "revocation" else Rate()
    # CpuClock counts only the children this script has waited for: PostgreSQL's and
    # Redis's CPU time is taken off here.
    services_cpu = run.services.cpu_seconds() - services_start
    others = harness.CpuClock.now().others_since(clock, running=services_cpu)
    if isinstance(result, Rate):
        run.rates.setdefault(variant.key, []).append(replace(result, others_cpu=others))
        return
    if result.skipped:
        run.incidents.append(
            f"round {round_no}, revocation {variant.label}: {FAILURES_IN_A_ROW} sign-outs in a"
            f" row not refused by B within {GIVE_UP:.0f} s; the other {result.skipped} samples"
            " were skipped"
        )
    run.propagations.setdefault(variant.key, []).append(replace(result, others_cpu=others))


# --- statistics and the report ------------------------------------------------------------


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile; NaN without values."""
    if not values:
        return NAN
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def split(connections: tuple[int, ...]) -> str:
    return " + ".join(str(n) for n in connections) if connections else "n/a"


def per_round(values: Sequence[float], fmt: Callable[[float], str] = harness.num) -> str:
    return " / ".join(fmt(v) for v in values)


def ratios(mine: Sequence[Rate], theirs: Sequence[Rate]) -> list[float]:
    return [
        harness.ratio(a.per_second, b.per_second, over_zero=math.inf)
        for a, b in zip(mine, theirs, strict=True)
    ]


def rate_section(
    run: Run, measurement: str, unit: str, ratio_name: str, explain: list[str]
) -> list[str]:
    base, other = VARIANTS[measurement]
    lines = [*explain, ""]
    rows = []
    for variant in (base, other):
        rates = run.rates[variant.key]
        row = [
            variant.label,
            variant.setup,
            harness.num(harness.median([r.per_second for r in rates])),
            per_round([r.per_second for r in rates]),
            harness.ms(harness.median([r.p99_ms for r in rates])),
            f"{sum(r.errors for r in rates):,}",
        ]
        if measurement == "test":
            row.append(" / ".join(split(r.connections) for r in rates))
        rows.append(row)
    header = ["variant", "setup", f"{unit} (median)", "per round", "p99 ms (median)", "errors"]
    if measurement == "test":
        header.append("wrk connections per server process, per round")
    lines += harness.table(header, rows)
    each = ratios(run.rates[other.key], run.rates[base.key])
    lines += [
        f"**{ratio_name}: {harness.times(harness.median(each))}** (median of per-round"
        f" ratios; per round {per_round(each, harness.times)}).",
        "",
    ]
    return lines


def revocation_section(run: Run) -> list[str]:
    rows = []
    for variant in VARIANTS["revocation"]:
        rounds = run.propagations[variant.key]
        pooled = [d for p in rounds for d in p.delays_ms]
        rows.append(
            [
                variant.label,
                variant.setup,
                f"{len(pooled):,}",
                f"{sum(p.failures for p in rounds):,}",
                f"{sum(p.skipped for p in rounds):,}",
                harness.num(harness.median(pooled)),
                harness.num(percentile(pooled, 0.95)),
                harness.num(max(pooled, default=NAN)),
                per_round([harness.median(p.delays_ms) for p in rounds]),
                per_round([percentile(p.delays_ms, 0.95) for p in rounds]),
            ]
        )
    return [
        f"Two processes A and B (1 worker each) on one database. Per round and mode:"
        f" {run.args.samples} sessions signed in on A, each checked to get 200 on B; then per"
        " session: a random pause, POST /sign-out on A, and GET /test with that access token"
        " on B in a tight keep-alive loop. Delay = B's first 401 minus the arrival of A's 204"
        f" (0 if B already refused). A sample fails after {GIVE_UP:.0f} s without a 401;"
        f" after {FAILURES_IN_A_ROW} failures in a row the mode's other samples that round are"
        " skipped."
        " Pauses: up to 50 ms in the push modes; up to 1 s (one poll interval) in poll mode,"
        " so sign-outs land at random points of the poll cycle.",
        "",
        *harness.table(
            [
                "mode",
                "setup",
                "delays measured",
                "failures",
                "skipped",
                "median ms",
                "p95 ms",
                "max ms",
                "median ms per round",
                "p95 ms per round",
            ],
            rows,
        ),
        "Median, p95 (nearest rank) and max are over all rounds' samples together.",
        "",
    ]


def noise_section(run: Run, chosen: Sequence[str]) -> list[str]:
    rows = []
    for measurement in chosen:
        for variant in VARIANTS[measurement]:
            results: Sequence[Result] = (
                run.propagations[variant.key]
                if measurement == "revocation"
                else run.rates[variant.key]
            )
            shares = [r.others_cpu for r in results]
            rows.append([measurement, variant.label, per_round(shares, harness.pct)])
    return [
        "## Machine noise",
        "",
        "Share of the machine's CPU time used by processes other than this script, its servers,"
        " wrk, PostgreSQL and Redis while each variant ran (before each, the script waits a"
        f" little, at most {QUIET_WAIT:.0f} s, for it to fall below 15%).",
        "",
        *harness.table(["measurement", "variant", "others' CPU per round"], rows),
    ]


def source_note(sources: Sequence[str]) -> str:
    """harness.source_state() of each round: "<commit> (src sha256 <digest>)"."""
    if len(set(sources)) == 1:
        return f"- authgate source: {sources[0]}, in every round."
    if len({state.split(" ", 1)[1] for state in sources}) == 1:
        return (
            f"- authgate source: src/ identical in every round {sources[0].split(' ', 1)[1]};"
            f" HEAD moved during the run: {' / '.join(s.split(' ', 1)[0] for s in sources)}."
        )
    return "- **authgate's source changed during the run**: " + "; ".join(sources) + "."


def report(run: Run, chosen: Sequence[str], elapsed: float) -> str:
    args = run.args
    command = " ".join([".venv/bin/python", "bench/scale.py", *sys.argv[1:]])
    lines = [
        "# Scale-out benchmark: a second worker, PostgreSQL, revocation propagation",
        "",
        f"Reproduce with `{command}` (from the repository root; needs wrk, PostgreSQL's"
        " binaries and redis-server). "
        f"{args.rounds} round(s); {args.duration} s per wrk run; every variant of a question"
        " measured in every round, the order rotated each round, fresh servers and databases"
        f" each time. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; took {elapsed / 60:.1f} min.",
        "",
        f"- Machine: {harness.machine()}; wrk, the servers, PostgreSQL and Redis share these"
        " cores over loopback, so every figure includes the client's own CPU use.",
        f"- Python {platform.python_version()}, SQLite {sqlite3.sqlite_version};"
        f" {'; '.join(run.services.versions()) or 'no PostgreSQL or Redis needed'}.",
        source_note(run.sources),
        f"- Throttles generous (AUTHGATE_THROTTLE_* = {http_bench.GENEROUS}); password hashing"
        " at authgate's defaults.",
        "",
    ]
    if run.incidents:
        lines += ["**Incidents** (figures missing from those rounds):", ""]
        lines += [f"- {incident}" for incident in run.incidents]
        lines += [""]
    if "test" in chosen:
        lines += ["## GET /test: 1 worker vs 2 workers", ""]
        lines += rate_section(
            run,
            "test",
            "req/s",
            "2 workers ÷ 1 worker, GET /test req/s",
            [
                f"`wrk -t{TEST_THREADS} -c{TEST_CONNECTIONS}` on GET /test with one valid access"
                " token, as bench/http/run.py. Both variants use a fresh SQLite file and Redis"
                " (2 workers require Redis). The last column counts, halfway through the run,"
                " the established connections each server process holds: the workers share"
                " one listening socket and each keeps the connections it accepted."
            ],
        )
    if "token" in chosen:
        lines += ["## POST /token: SQLite vs PostgreSQL", ""]
        lines += rate_section(
            run,
            "token",
            "rotations/s",
            "PostgreSQL ÷ SQLite, POST /token rotations/s",
            [
                f"`wrk -t{CHAINS} -c{CHAINS}` with bench/http/refresh.lua: {CHAINS} refresh-token"
                " chains (one per connection), each answer's refresh token used for the next"
                " request, as bench/http/run.py. Only 200 answers count. One worker, no Redis."
            ],
        )
    if "revocation" in chosen:
        lines += ["## Revocation propagation: sign-out on A, refused on B", ""]
        lines += revocation_section(run)
    lines += noise_section(run, chosen)
    return "\n".join(lines)


# --- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--only", help="comma-separated subset of: " + ", ".join(MEASUREMENTS) + " (default all)"
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="sign-outs per revocation mode and round"
    )
    args = parser.parse_args()
    if min(args.rounds, args.duration, args.samples) < 1:
        parser.error("--rounds, --duration and --samples must be at least 1")
    chosen = [m.strip() for m in args.only.split(",") if m.strip()] if args.only else []
    unknown = sorted(set(chosen) - set(MEASUREMENTS))
    if unknown:
        parser.error(f"unknown measurement(s) {', '.join(unknown)}")
    chosen = [m for m in MEASUREMENTS if not chosen or m in chosen]

    scratch = Path(tempfile.mkdtemp(prefix="authgate-scale-bench-"))
    print(f"scratch folder (server logs, raw wrk output): {scratch}", flush=True)
    started = time.monotonic()
    with Services([v for m in chosen for v in VARIANTS[m]]) as services:
        run = Run(args, services, scratch)
        run_rounds(run, chosen)
        text = report(run, chosen, time.monotonic() - started)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale.md").write_text(text + "\n")
    print()
    print(text)
    print(f"wrote {RESULTS / 'scale.md'}")


if __name__ == "__main__":
    main()
