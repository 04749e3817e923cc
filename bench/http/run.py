"""HTTP benchmark: authgate against the Express tutorial and a naive FastAPI port, with wrk.

    .venv/bin/python bench/http/run.py [--rounds 3] [--duration 10]
        [--servers express,express-keyobject,naive,authgate | --only authgate] [--workers N]

Servers (one process each, fresh for every round, started on a free 127.0.0.1 port):

- express            the tutorial's Express app (bench/peers/express), string secrets
- express-keyobject  the same app with each secret wrapped once in a KeyObject
- naive              FastAPI + PyJWT + bcrypt on the event loop (bench/peers/naive_fastapi.py)
- authgate           `python -m authgate serve --workers 1` on a fresh SQLite file
- `--workers N` (N > 1) adds "authgate (N workers)", reported separately from the targets.

Each round runs every server in turn (the order rotates from round to round), and for
each: RSS at idle, GET /test at c=64, GET /test during a 16-way sign-in flood, sign-in
throughput at c=16, POST /token with 16 refresh-token chains, and the RSS peak. The report
(medians over rounds; ratios are medians of per-round ratios) goes to
bench/results/http.md and the chart to bench/results/http.png.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "http"
EXPRESS_DIR = ROOT / "bench" / "peers" / "express"
NAIVE_APP = ROOT / "bench" / "peers" / "naive_fastapi.py"
RESULTS = ROOT / "bench" / "results"

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
GENEROUS = "100000000/minute"
CHAINS = 16  # POST /token: one connection, one wrk thread and one refresh-token chain each
FLOOD = 16  # concurrent sign-ins during the flood
WRK_TIMEOUT = "5s"  # wrk counts slower answers as timeouts and leaves them out of p99
SETTLE = 2.0  # seconds between scenarios, for queued work (e.g. hashing) to drain
START_TIMEOUT = 60.0
QUIET_BUDGET = 300.0  # seconds one run may spend in total waiting for a quieter machine
OWASP_ARGON2 = "m=19456,t=2,p=1"
NAN = math.nan


# --- servers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    key: str
    label: str
    kind: str  # "express", "naive" or "authgate"
    keyobject: bool = False
    workers: int = 1

    @property
    def tutorial(self) -> bool:
        """The peers answer with the tutorial's keys and take its {"token"} body."""
        return self.kind != "authgate"

    @property
    def access_key(self) -> str:
        return "accessToken" if self.tutorial else "access_token"

    @property
    def refresh_key(self) -> str:
        return "refreshToken" if self.tutorial else "refresh_token"

    @property
    def refresh_body_key(self) -> str:
        return "token" if self.tutorial else "refresh_token"

    @property
    def rotates(self) -> bool:
        return not self.tutorial

    def launch(self, port: int, folder: Path) -> tuple[list[str], dict[str, str], Path]:
        """The command, environment and working directory that start this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        env.pop("NODE_ENV", None)
        if self.kind == "express":
            env.update(
                PORT=str(port),
                HOST="127.0.0.1",
                ACCESS_TOKEN_SECRET=secrets.token_hex(32),
                REFRESH_TOKEN_SECRET=secrets.token_hex(32),
                KEYOBJECT="1" if self.keyobject else "0",
            )
            return [_tool("node"), "server.js"], env, EXPRESS_DIR
        if self.kind == "naive":
            env.update(
                PORT=str(port),
                HOST="127.0.0.1",
                ACCESS_TOKEN_SECRET=secrets.token_hex(32),
                REFRESH_TOKEN_SECRET=secrets.token_hex(32),
            )
            return [sys.executable, str(NAIVE_APP)], env, folder
        env.update(
            AUTHGATE_DATABASE_URL=f"sqlite:///{folder / 'authgate.db'}",
            AUTHGATE_THROTTLE_SIGN_UP=GENEROUS,
            AUTHGATE_THROTTLE_SIGN_IN_IP=GENEROUS,
            AUTHGATE_THROTTLE_SIGN_IN_ACCOUNT=GENEROUS,
            AUTHGATE_THROTTLE_TOKEN=GENEROUS,
        )
        command = [sys.executable, "-m", "authgate", "serve", "--host", "127.0.0.1"]
        return [*command, "--port", str(port), "--workers", str(self.workers)], env, folder


PEERS = (
    Server("express", "Express (string secret)", "express"),
    Server("express-keyobject", "Express (KeyObject)", "express", keyobject=True),
    Server("naive", "naive FastAPI + PyJWT", "naive"),
)
AUTHGATE = Server("authgate", "authgate", "authgate")
ALL_SERVERS = (*PEERS, AUTHGATE)


def multi_worker(workers: int) -> Server:
    return Server("authgate-workers", f"authgate ({workers} workers)", "authgate", workers=workers)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"bench/http: `{name}` is not on PATH")
    return path


# --- processes and memory -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn workers, helper processes)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def rss_mib(pid: int) -> float:
    """VmRSS of the process plus its descendants, in MiB (NaN once it is gone)."""
    total_kib, seen = 0, False
    for member in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
                    seen = True
                    break
    return total_kib / 1024 if seen else NAN


@dataclass(frozen=True)
class CpuClock:
    """Machine-wide busy and steal time, and the CPU time of this script and its children."""

    wall: float
    busy: float
    steal: float
    ours: float

    @classmethod
    def now(cls) -> CpuClock:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        mine = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            wall=time.monotonic(),
            busy=(user + nice + system + irq + softirq) / ticks,
            steal=steal / ticks,
            ours=mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime,
        )

    def since(self, start: CpuClock) -> tuple[float, float]:
        """Shares of the machine (0..1) used by other processes, and stolen by the host."""
        capacity = (self.wall - start.wall) * (os.cpu_count() or 1)
        others = (self.busy - start.busy) - (self.ours - start.ours)
        return max(others, 0.0) / capacity, (self.steal - start.steal) / capacity


def source_state() -> str:
    """The commit plus a digest of src/ as it is on disk (it may change between rounds)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(  # noqa: S603 - git, by absolute path
            [_tool("git"), "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    return f"{commit} (src sha256 {digest.hexdigest()[:10]})"


def wait_for_quiet(budget: float, threshold: float = 0.15) -> float:
    """Between servers nothing of ours runs: wait (up to `budget` s) while others use the CPU.

    Returns the share of the machine other processes used in the last one-second look.
    """
    deadline = time.monotonic() + budget
    while True:
        start = CpuClock.now()
        time.sleep(1)
        others, _ = CpuClock.now().since(start)
        if others < threshold or time.monotonic() >= deadline:
            return others
        print(f"    waiting for a quieter machine: other processes use {_pct(others)}", flush=True)
        time.sleep(4)


class RssSampler(threading.Thread):
    """Samples the server's RSS every 0.2 s in the background and keeps the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = NAN
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.2):
            value = rss_mib(self.pid)
            if not math.isnan(value) and not value <= self.peak:
                self.peak = value

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=5)
        return self.peak


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            httpx.get(f"{url}/test", timeout=2)  # any answer (401 without a token) will do
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout:.0f} s")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL; descendants left behind are killed by their own pids."""
    family = process_tree(process.pid)[1:]
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    for pid in family:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# --- wrk ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """One wrk run, from the BENCH_RESULT line report.lua prints (NaN/0 if wrk failed)."""

    requests: int = 0
    duration: float = 0.0
    failures: int = 0  # answers that do not count: status > 399, or not 200 for /token
    socket_errors: int = 0  # connect, read and write errors
    timeouts: int = 0
    p50_ms: float = NAN
    p99_ms: float = NAN
    parsed: bool = False

    @property
    def ok_per_second(self) -> float:
        if not self.parsed or self.duration <= 0:
            return NAN
        return (self.requests - self.failures) / self.duration

    @property
    def errors(self) -> int:
        return self.failures + self.socket_errors + self.timeouts

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        match = re.search(r"^BENCH_RESULT (.*)$", output, re.MULTILINE)
        if match is None:
            return cls()
        v = {k: int(n) for k, n in re.findall(r"(\w+)=(-?\d+)", match.group(1))}
        return cls(
            requests=v["requests"],
            duration=v["duration_us"] / 1e6,
            failures=v["failures"],
            socket_errors=v["connect"] + v["read"] + v["write"],
            timeouts=v["timeout"],
            p50_ms=_latency(v["p50_us"], v["requests"], v["timeout"], 0.5),
            p99_ms=_latency(v["p99_us"], v["requests"], v["timeout"], 0.01),
            parsed=True,
        )


def _latency(micros: int, answered: int, timeouts: int, tail: float) -> float:
    """wrk's percentile in ms; inf when too many requests outlasted the wrk timeout.

    wrk leaves answers slower than --timeout out of its histogram and counts them (and
    requests still pending) as timeouts, so if timeouts exceed the tail share the true
    percentile lies beyond the timeout. NaN when nothing was answered or timed out.
    """
    if timeouts > tail * (answered + timeouts) or (answered and micros == 0):
        return math.inf
    return micros / 1000 if answered else NAN


def wrk_command(
    threads: int, connections: int, seconds: int, script: str, url: str, *headers: str
) -> list[str]:
    return [
        _tool("wrk"),
        *[part for header in headers for part in ("-H", header)],
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(HERE / script),
        url,
    ]


def start_wrk(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    with log.open("w") as out:
        out.write(" ".join(command) + "\n\n")
    return subprocess.Popen(  # noqa: S603 - wrk, by absolute path, on our own servers
        command,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_wrk(process: subprocess.Popen[str], seconds: int, log: Path) -> WrkResult:
    try:
        output, _ = process.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    with log.open("a") as out:
        out.write(output or "")
    result = WrkResult.parse(output or "")
    if not result.parsed:
        print(f"    wrk gave no result (exit {process.returncode}); see {log}", flush=True)
    return result


def run_wrk(command: list[str], seconds: int, log: Path, env: dict[str, str]) -> WrkResult:
    return finish_wrk(start_wrk(command, env, log), seconds, log)


# --- one server, one round ----------------------------------------------------------------

Sample = dict[str, float]


def sign_in(http: httpx.Client) -> dict[str, Any]:
    answer = http.post("/sign-in", json={"email": EMAIL, "password": PASSWORD})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def stored_hash_parameters(database: Path) -> str:
    """The algorithm and parameters of the password hash authgate stored, e.g. argon2id."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
                if "user" not in table:
                    continue
                for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - our own table
                    for value in row:
                        if isinstance(value, str) and value.startswith("$argon2"):
                            variant, _, parameters = value.split("$")[1:4]
                            return f"{variant} {parameters}"
                        if isinstance(value, str) and re.match(r"^\$2[aby]\$", value):
                            return f"bcrypt cost {value[4:6]}"
    except sqlite3.Error as exc:
        return f"unknown ({exc})"
    return "unknown (no password hash found)"


def measure(
    server: Server,
    args: argparse.Namespace,
    folder: Path,
    notes: dict[str, str],
    incidents: list[str],
) -> Sample:
    folder.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command, env, cwd = server.launch(port, folder)
    duration: int = args.duration
    sample: Sample = {}
    clock = CpuClock.now()
    with (folder / "server.log").open("wb") as server_log:
        process = subprocess.Popen(  # noqa: S603 - our own servers, by absolute path
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=server_log
        )
    sampler = RssSampler(process.pid)
    sampler.start()
    try:
        wait_ready(url, process, START_TIMEOUT)
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get("/test")  # the warm-up request
            time.sleep(0.5)
            sample["rss_idle_mib"] = rss_mib(process.pid)
            http.post("/sign-up", json={"email": EMAIL, "password": PASSWORD}).raise_for_status()
            access = sign_in(http)[server.access_key]
            if server.kind == "authgate":
                notes.setdefault("password hash", stored_hash_parameters(folder / "authgate.db"))
            bearer = f"Authorization: Bearer {access}"
            body = {"BENCH_BODY": f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'}

            # a. GET /test, c=64
            test = run_wrk(
                wrk_command(2, 64, duration, "report.lua", f"{url}/test", bearer),
                duration,
                folder / "wrk-test.txt",
                {},
            )
            sample |= {
                "test_rps": test.ok_per_second,
                "test_p50_ms": test.p50_ms,
                "test_p99_ms": test.p99_ms,
                "test_errors": test.errors,
            }
            print(f"    GET /test      {_num(test.ok_per_second)} req/s", end="", flush=True)
            print(f", p99 {_ms(test.p99_ms)} ms, errors {test.errors}", flush=True)
            time.sleep(SETTLE)

            # b. GET /test during a 16-way sign-in flood
            flood_seconds = duration + 2
            flood = start_wrk(
                wrk_command(1, FLOOD, flood_seconds, "signin.lua", f"{url}/sign-in"),
                body,
                folder / "wrk-flood-signin.txt",
            )
            time.sleep(1)
            loaded = run_wrk(
                wrk_command(1, 64, duration, "report.lua", f"{url}/test", bearer),
                duration,
                folder / "wrk-flood-test.txt",
                {},
            )
            flooding = finish_wrk(flood, flood_seconds, folder / "wrk-flood-signin.txt")
            sample |= {
                "flood_test_rps": loaded.ok_per_second,
                "flood_test_p99_ms": loaded.p99_ms,
                "flood_test_errors": loaded.errors,
                "flood_test_timeouts": loaded.timeouts,
                "flood_retention": _ratio(loaded.ok_per_second, test.ok_per_second),
                "flood_signin_rps": flooding.ok_per_second,
            }
            print(
                f"    under flood    {_num(loaded.ok_per_second)} req/s"
                f" ({_pct(sample['flood_retention'])} of unloaded), p99 {_ms(loaded.p99_ms)} ms,"
                f" errors {loaded.errors}; sign-ins/s {_num(flooding.ok_per_second)}",
                flush=True,
            )
            time.sleep(SETTLE)

            # c. sign-in throughput, c=16
            signin = run_wrk(
                wrk_command(2, FLOOD, duration, "signin.lua", f"{url}/sign-in"),
                duration,
                folder / "wrk-signin.txt",
                body,
            )
            sample |= {
                "signin_rps": signin.ok_per_second,
                "signin_p50_ms": signin.p50_ms,
                "signin_p99_ms": signin.p99_ms,
                "signin_errors": signin.errors,
            }
            print(f"    POST /sign-in  {_num(signin.ok_per_second)}/s", end="", flush=True)
            print(f", p99 {_ms(signin.p99_ms)} ms, errors {signin.errors}", flush=True)
            time.sleep(SETTLE)

            # d. POST /token, one refresh-token chain per connection and wrk thread
            chains = [sign_in(http)[server.refresh_key] for _ in range(CHAINS)]
            tokens_file = folder / "refresh-tokens.txt"
            tokens_file.write_text("\n".join(chains) + "\n")
            refresh = run_wrk(
                wrk_command(CHAINS, CHAINS, duration, "refresh.lua", f"{url}/token"),
                duration,
                folder / "wrk-token.txt",
                {
                    "BENCH_TOKENS_FILE": str(tokens_file),
                    "BENCH_BODY_KEY": server.refresh_body_key,
                    "BENCH_ROTATES": "1" if server.rotates else "0",
                },
            )
            sample |= {
                "token_rps": refresh.ok_per_second,
                "token_p99_ms": refresh.p99_ms,
                "token_errors": refresh.errors,
            }
            print(f"    POST /token    {_num(refresh.ok_per_second)}/s", end="", flush=True)
            print(f", p99 {_ms(refresh.p99_ms)} ms, errors {refresh.errors}", flush=True)
    except Exception as exc:  # a broken round is reported, not fatal
        print(f"    FAILED: {exc}; server log: {folder / 'server.log'}", flush=True)
        incidents.append(f"{server.label}: {exc} (log: {folder / 'server.log'})")
    finally:
        sample["rss_peak_mib"] = sampler.stop()
        stop_server(process)
    sample["others_cpu"], sample["steal_cpu"] = CpuClock.now().since(clock)
    print(
        f"    RSS            idle {_num(sample.get('rss_idle_mib', NAN))} MiB,"
        f" peak {_num(sample['rss_peak_mib'])} MiB; other processes used"
        f" {_pct(sample['others_cpu'])} of the CPUs, the host stole {_pct(sample['steal_cpu'])}",
        flush=True,
    )
    return sample


# --- statistics and formatting ------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator):
        return NAN
    if denominator == 0:
        return math.inf if numerator > 0 else NAN
    return numerator / denominator


def median(values: Sequence[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return statistics.median(real) if real else NAN


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _ms(value: float) -> str:
    return f"> {_timeout_ms():,}" if math.isinf(value) else _num(value)


def _timeout_ms() -> int:
    return int(WRK_TIMEOUT.removesuffix("s")) * 1000


def _pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.0f}%"


def _times(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def combined(samples: Sequence[Sample], key: str) -> float:
    values = [s.get(key, NAN) for s in samples]
    if key.endswith(("_errors", "_timeouts")):
        real = [v for v in values if not math.isnan(v)]
        return float(sum(real)) if real else NAN
    return median(values)


def per_round_ratio(mine: Sequence[Sample], theirs: Sequence[Sample], key: str) -> float:
    return median(
        [_ratio(a.get(key, NAN), b.get(key, NAN)) for a, b in zip(mine, theirs, strict=True)]
    )


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


SCENARIOS: list[tuple[str, list[tuple[str, str, Callable[[float], str]]]]] = [
    (
        "GET /test, unloaded (`wrk -t2 -c64`)",
        [
            ("test_rps", "req/s", _num),
            ("test_p50_ms", "p50 ms", _ms),
            ("test_p99_ms", "p99 ms", _ms),
            ("test_errors", "errors (all rounds)", _count),
        ],
    ),
    (
        f"GET /test during a {FLOOD}-way sign-in flood (`wrk -t1 -c64` on /test while "
        f"`wrk -t1 -c{FLOOD}` signs in)",
        [
            ("flood_test_rps", "/test req/s", _num),
            ("flood_test_p99_ms", "/test p99 ms", _ms),
            ("flood_retention", "share of unloaded req/s", _pct),
            ("flood_test_errors", "/test errors (all rounds)", _count),
            ("flood_test_timeouts", "of which timeouts", _count),
            ("flood_signin_rps", "sign-ins/s meanwhile", _num),
        ],
    ),
    (
        f"POST /sign-in throughput (`wrk -t2 -c{FLOOD}`, one user, right password)",
        [
            ("signin_rps", "sign-ins/s (200 only)", _num),
            ("signin_p50_ms", "p50 ms", _ms),
            ("signin_p99_ms", "p99 ms", _ms),
            ("signin_errors", "errors (all rounds)", _count),
        ],
    ),
    (
        f"POST /token (`wrk -t{CHAINS} -c{CHAINS}`, one refresh-token chain per connection)",
        [
            ("token_rps", "/token/s (200 only)", _num),
            ("token_p99_ms", "p99 ms", _ms),
            ("token_errors", "errors (all rounds)", _count),
        ],
    ),
    (
        "Server memory (VmRSS of the server process and its children)",
        [
            ("rss_idle_mib", "idle MiB (after start + 1 request)", _num),
            ("rss_peak_mib", "peak MiB (sampled every 0.2 s)", _num),
        ],
    ),
]

RATIOS: list[tuple[str, str]] = [
    ("test_rps", "GET /test req/s (higher is better)"),
    ("test_p99_ms", "GET /test p99 (lower is better)"),
    ("flood_test_rps", "GET /test req/s under flood (higher is better)"),
    ("signin_rps", "sign-ins/s (higher is better)"),
    ("token_rps", "/token/s (higher is better)"),
    ("rss_idle_mib", "RSS idle (lower is better)"),
    ("rss_peak_mib", "RSS peak (lower is better)"),
]


@dataclass(frozen=True)
class Target:
    text: str
    value: float
    shown: str
    met: bool | None  # None: a server it needs was not run


def targets(results: dict[str, list[Sample]]) -> list[Target]:
    mine = results.get("authgate")
    if mine is None:
        return []

    def against(peer: str, key: str, want: Callable[[float], bool], text: str) -> Target:
        if peer not in results:
            return Target(text, NAN, "n/a (peer not run)", None)
        value = per_round_ratio(mine, results[peer], key)
        return Target(text, value, _times(value), None if math.isnan(value) else want(value))

    retention = median([s.get("flood_retention", NAN) for s in mine])
    return [
        against(
            "express-keyobject",
            "test_rps",
            lambda r: r >= 2,
            "GET /test req/s >= 2x Express (KeyObject)",
        ),
        against(
            "express-keyobject",
            "test_p99_ms",
            lambda r: r <= 1,
            "GET /test p99 no worse than Express (KeyObject) (ratio <= 1)",
        ),
        Target(
            "GET /test under the sign-in flood keeps >= 50% of its unloaded req/s",
            retention,
            _pct(retention),
            None if math.isnan(retention) else retention >= 0.5,
        ),
        against(
            "express",
            "signin_rps",
            lambda r: r >= 1,
            "sign-ins/s >= the tutorial Express app's (bcrypt cost 10)",
        ),
        against(
            "express",
            "rss_idle_mib",
            lambda r: r <= 1,
            "RSS at idle no more than the Express app's (ratio <= 1)",
        ),
    ]


def versions() -> list[str]:
    def run(*command: str, cwd: Path = ROOT) -> str:
        try:
            done = subprocess.run(  # noqa: S603 - fixed local tools
                list(command), cwd=cwd, capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        return (done.stdout or done.stderr).strip().splitlines()[0] if done.stdout else "?"

    def node_version(package: str) -> str:
        lock = EXPRESS_DIR / "node_modules" / package / "package.json"
        match = re.search(r'"version"\s*:\s*"([^"]+)"', lock.read_text()) if lock.exists() else None
        return match.group(1) if match else "?"

    from importlib.metadata import PackageNotFoundError, version

    def py_version(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "?"

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return [
        f"- Machine: {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()};"
        " wrk and the server share these cores over loopback, so every figure includes the"
        " client's own CPU use.",
        "- authgate: 1 uvicorn worker unless labelled otherwise;"
        " generous throttles (AUTHGATE_THROTTLE_* = "
        f"{GENEROUS}); fresh SQLite file per round.",
        f"- Node {run(_tool('node'), '--version')}: express {node_version('express')},"
        f" jsonwebtoken {node_version('jsonwebtoken')}, bcrypt {node_version('bcrypt')}"
        " (native, cost 10); one process.",
        f"- Python {platform.python_version()}: fastapi {py_version('fastapi')},"
        f" uvicorn {py_version('uvicorn')} (uvloop {py_version('uvloop')},"
        f" httptools {py_version('httptools')}), PyJWT {py_version('PyJWT')},"
        f" bcrypt {py_version('bcrypt')}, argon2-cffi {py_version('argon2-cffi')}.",
        f"- {run(_tool('wrk'), '-v')}; wrk --timeout {WRK_TIMEOUT} (slower answers count as"
        " timeouts and are not in the percentiles).",
    ]


def sources(notes: dict[str, str]) -> list[str]:
    rounds = {k.removeprefix("source "): v for k, v in notes.items() if k.startswith("source ")}
    if not rounds:
        return []
    if len(set(rounds.values())) == 1:
        return [f"- authgate source measured: {next(iter(rounds.values()))}, in every round."]
    listed = "; ".join(f"{r}: {state}" for r, state in sorted(rounds.items()))
    return [
        f"- **authgate's source changed during the run** (it is being worked on): {listed}."
        " Medians mix these versions; compare the per-round table."
    ]


def report(
    results: dict[str, list[Sample]],
    servers: Sequence[Server],
    args: argparse.Namespace,
    notes: dict[str, str],
    incidents: Sequence[str],
    elapsed: float,
) -> str:
    command = " ".join([".venv/bin/python", "bench/http/run.py", *sys.argv[1:]])

    def everything(key: str) -> list[float]:
        return [v for rounds in results.values() for s in rounds if not math.isnan(v := s[key])]

    main = [s for s in servers if s.key != "authgate-workers"]
    extra = [s for s in servers if s.key == "authgate-workers"]
    lines = [
        "# HTTP benchmark: authgate and the servers users compare it with",
        "",
        f"`{command}` — {args.rounds} round(s) of {args.duration} s per scenario, every server"
        " measured in every round (order rotated each round); figures are medians over"
        f" rounds. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, took {elapsed / 60:.1f} min.",
        "",
        *versions(),
        *sources(notes),
        f"- Password hash authgate stored: {notes.get('password hash', 'not checked')}"
        f" (OWASP argon2id: {OWASP_ARGON2}).",
        f"- Machine noise: while each server was measured, other processes on this machine"
        f" used a median {_pct(median(everything('others_cpu')))} (max"
        f" {_pct(max(everything('others_cpu'), default=NAN))}) of its CPU time and the host"
        f" stole {_pct(median(everything('steal_cpu')))} (max"
        f" {_pct(max(everything('steal_cpu'), default=NAN))}); see the per-round table.",
        "",
    ]
    if incidents:
        lines += ["**Incidents** (those rounds lack some figures for that server):", ""]
        lines += [f"- {incident}" for incident in incidents]
        lines += [""]
    for title, columns in SCENARIOS:
        lines += [f"## {title}", ""]
        rows = [
            [server.label, *[fmt(combined(results[server.key], key)) for key, _, fmt in columns]]
            for server in [*main, *extra]
        ]
        if title.startswith("POST /token"):
            lines += table(
                ["server", *[name for _, name, _ in columns], "rotates?"],
                [
                    [*row, "yes" if server.rotates else "no (the tutorial reuses the token)"]
                    for row, server in zip(rows, [*main, *extra], strict=True)
                ],
            )
        else:
            lines += table(["server", *[name for _, name, _ in columns]], rows)

    peers = [p for p in PEERS if p.key in results]
    for mine in [s for s in [AUTHGATE, *extra] if s.key in results]:
        if not peers:
            break
        lines += [
            f"## Ratios: {mine.label} ÷ each peer (median of per-round ratios)",
            "",
            *table(
                ["metric", *[f"÷ {p.label}" for p in peers]],
                [
                    [
                        name,
                        *[
                            _times(per_round_ratio(results[mine.key], results[p.key], key))
                            for p in peers
                        ],
                    ]
                    for key, name in RATIOS
                ],
            ),
        ]
        if mine.key == "authgate-workers":
            lines += [
                f"{mine.label} is reported separately: the targets compare one authgate process"
                " with one (single-threaded) Node process.",
                "",
            ]

    goals = targets(results)
    if goals:
        lines += [
            "## Targets (one authgate process vs one Node process)",
            "",
            *table(
                ["target", "measured", "verdict"],
                [
                    [
                        goal.text,
                        goal.shown,
                        "n/a" if goal.met is None else ("met" if goal.met else "NOT met"),
                    ]
                    for goal in goals
                ],
            ),
        ]

    lines += ["## Per round", ""]
    keys: list[tuple[str, str, Callable[[float], str]]] = [
        ("test_rps", "/test req/s", _num),
        ("flood_test_rps", "under flood", _num),
        ("flood_retention", "share kept", _pct),
        ("signin_rps", "sign-in/s", _num),
        ("token_rps", "/token/s", _num),
        ("rss_idle_mib", "RSS idle MiB", _num),
        ("others_cpu", "others' CPU", _pct),
        ("steal_cpu", "host steal", _pct),
    ]
    lines += table(
        ["server", *[name for _, name, _ in keys]],
        [
            [
                server.label,
                *[
                    " / ".join(fmt(s.get(key, NAN)) for s in results[server.key])
                    for key, _, fmt in keys
                ],
            ]
            for server in [*main, *extra]
        ],
    )
    lines += [
        "Notes:",
        "",
        "- A request counts only when answered 200 (sign-in, /token) or below 400 (/test)."
        " Errors are the answers that do not count plus socket errors and timeouts; wrk counts"
        f" a request still unanswered after {WRK_TIMEOUT} as a timeout.",
        f"- A latency of '> {_timeout_ms():,}' means too many requests outlasted the wrk timeout"
        " to place that percentile; n/a means nothing was answered or timed out in that window.",
        "- POST /token on authgate rotates the refresh token on every call, each connection"
        " following its own chain; the tutorial and the naive port hand back an access token"
        " for the same, never-rotated refresh token, which is less work.",
        '- Per-round cells are in round order. "Others\' CPU" is the share of the machine used'
        " by processes other than this script, its wrk runs and the server under test while"
        " that server was measured; before each server the script waits (a little) for it to"
        " fall below 15%.",
        "- Server stdout (uvicorn's access log, if on) goes to /dev/null; stderr to a log file.",
        "",
    ]
    return "\n".join(lines)


def chart(
    results: dict[str, list[Sample]], servers: Sequence[Server], args: argparse.Namespace
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = [
        ("test_rps", "GET /test\n(c=64)"),
        ("flood_test_rps", f"GET /test during\n{FLOOD}-way sign-in flood"),
        ("signin_rps", f"sign-ins/s\n(c={FLOOD})"),
        ("token_rps", f"POST /token/s ({CHAINS} chains;\nonly authgate rotates)"),
    ]
    colours = {
        "express": "#9e9e9e",
        "express-keyobject": "#616161",
        "naive": "#f4a261",
        "authgate": "#2a9d8f",
        "authgate-workers": "#7fcdbb",
    }
    width = 0.8 / len(servers)
    figure, axes = plt.subplots(figsize=(11, 5.5))
    floor = 0.1  # zero cannot sit on a log axis; such bars are drawn at the floor
    for index, server in enumerate(servers):
        values = [combined(results[server.key], key) for key, _ in groups]
        positions = [g + (index - (len(servers) - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v > floor else floor for v in [0.0 if math.isnan(v) else v for v in values]]
        bars = axes.bar(
            positions,
            heights,
            width * 0.92,
            label=server.label,
            color=colours.get(server.key, "#888888"),
            hatch="//" if server.key == "authgate-workers" else None,
        )
        for bar, value in zip(bars, values, strict=True):
            axes.annotate(
                "0" if value == 0 else _num(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90 if len(servers) > 4 else 0,
            )
    axes.set_yscale("log")
    axes.set_ylim(floor, axes.get_ylim()[1] * 3)
    axes.set_xticks(range(len(groups)), [name for _, name in groups])
    axes.set_ylabel("per second (log scale; 200 answers only)")
    axes.set_title(
        f"authgate vs peers: medians of {args.rounds} round(s) x {args.duration} s, "
        f"{os.cpu_count()} cores shared by wrk and the server"
    )
    axes.legend(fontsize=8, loc="upper right")
    axes.grid(axis="y", which="major", alpha=0.3)
    figure.tight_layout()
    figure.savefig(RESULTS / "http.png", dpi=130)
    plt.close(figure)


# --- main ---------------------------------------------------------------------------------


def ensure_node_modules() -> None:
    if (EXPRESS_DIR / "node_modules" / "bcrypt").is_dir():
        return
    print("installing the Express peer's npm dependencies (npm ci)...", flush=True)
    subprocess.run(  # noqa: S603 - npm by absolute path, on our own lockfile
        [_tool("npm"), "ci", "--no-audit", "--no-fund", "--prefix", str(EXPRESS_DIR)],
        check=True,
        timeout=900,
    )


def choose(args: argparse.Namespace) -> list[Server]:
    wanted = args.only or args.servers
    names = [n.strip() for n in wanted.split(",") if n.strip()] if wanted else []
    known = {s.key: s for s in ALL_SERVERS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    chosen = [s for s in ALL_SERVERS if not names or s.key in names]
    if args.workers > 1:
        chosen.append(multi_worker(args.workers))
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--servers",
        help="comma-separated subset of: " + ", ".join(s.key for s in ALL_SERVERS),
    )
    parser.add_argument("--only", help="one server (or a comma-separated subset)")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="also run authgate with N uvicorn workers, reported separately (N > 1)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30,
        help="before each server, wait up to this many seconds while other processes keep"
        " more than 15%% of the CPU busy (default 30, at most 300 in all; 0 never waits)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.workers < 1:
        parser.error("--rounds, --duration and --workers must be at least 1")
    servers = choose(args)
    _tool("wrk")
    if any(s.kind == "express" for s in servers):
        ensure_node_modules()

    scratch = Path(tempfile.mkdtemp(prefix="authgate-http-bench-"))
    print(f"scratch folder (server logs, raw wrk output): {scratch}", flush=True)
    results: dict[str, list[Sample]] = {s.key: [] for s in servers}
    notes: dict[str, str] = {}
    incidents: list[str] = []
    quiet_spent = 0.0
    started = time.monotonic()
    for round_no in range(args.rounds):
        shift = round_no % len(servers)
        for server in servers[shift:] + servers[:shift]:
            print(f"[round {round_no + 1}/{args.rounds}] {server.label}", flush=True)
            spent = time.monotonic()
            wait_for_quiet(min(args.quiet_wait, max(0.0, QUIET_BUDGET - quiet_spent)))
            quiet_spent += time.monotonic() - spent
            if server.kind == "authgate":
                notes[f"source r{round_no + 1}"] = source_state()
            folder = scratch / f"r{round_no + 1}-{server.key}"
            sample = measure(server, args, folder, notes, incidents)
            results[server.key].append(sample)
            if incidents and not incidents[-1].startswith("round "):
                incidents[-1] = f"round {round_no + 1}, {incidents[-1]}"
    elapsed = time.monotonic() - started

    RESULTS.mkdir(parents=True, exist_ok=True)
    text = report(results, servers, args, notes, incidents, elapsed)
    (RESULTS / "http.md").write_text(text)
    chart(results, servers, args)
    print()
    print(text)
    print(f"wrote {RESULTS / 'http.md'} and {RESULTS / 'http.png'}")


if __name__ == "__main__":
    main()
