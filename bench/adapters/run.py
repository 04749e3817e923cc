"""Adapter benchmark: what authgate's guard costs in a protected app, and how it compares.

    .venv/bin/python bench/adapters/run.py [--rounds 3] [--duration 10] [--slice 2]
        [--only KEY,...] [--quiet-wait 15]

Every framework adapter (FastAPI, Starlette, Flask, Django REST framework and plain
Django) serves the same small JSON route twice in one app: GET /open without a guard and
GET /guarded behind authgate's adapter. Beside them, on the same route shape, server and
token type (RS256, one key for all), the guards their users would pick instead:
fastapi-users' `current_user` with its JWTStrategy, a naive PyJWT dependency,
Flask-JWT-Extended's `@jwt_required()` and simplejwt's JWTAuthentication (and
JWTStatelessUserAuthentication). FastAPI and Starlette also serve GET /null-guard, the
framework's own machinery with nothing checked, for reference; FastAPI also runs with
authgate's token cache off.

Servers: ASGI apps under uvicorn (1 worker, uvloop, httptools, no access log), WSGI apps
under gunicorn (1 worker, gthread, 4 threads). Load: `wrk -t2 -c64` with the app's Bearer
header, every request answered 200. Each round starts every app of one framework in a
fresh server process, warms each up, then loads them in turns of --slice seconds until
each has had --duration seconds, so the noise of this shared machine falls alike on the
apps compared; frameworks rotate from round to round. Req/s and server CPU per request
are medians over rounds, ratios medians of per-round ratios. The report goes to
bench/results/adapters.md and the chart to bench/results/adapters.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "bench" / "adapters"
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(HERE))

import harness  # noqa: E402 - bench/harness.py, put on the path just above
import material  # noqa: E402 - bench/adapters, likewise

NAN = harness.NAN
CONNECTIONS = 64
THREADS = 2
GUNICORN_THREADS = 4
WARM_UP = 1  # seconds of wrk before each measurement
START_TIMEOUT = 60.0
QUIET_BUDGET = 120.0  # seconds one run may spend in all waiting for a quieter machine
GUARD_TARGET = 0.9  # guarded req/s >= 90% of unguarded
PEER_TARGET = 1.5  # authgate req/s >= 1.5x each peer's

Kind = Literal["open", "floor", "authgate", "peer", "extra"]


@dataclass(frozen=True)
class App:
    """One measurement: a route of an app under its server, with the token it accepts."""

    key: str
    label: str
    framework: str
    server: Literal["uvicorn", "gunicorn"]
    target: str  # module:attribute, from bench/adapters
    path: str
    token: str  # which token of mint.py
    kind: Kind
    env: tuple[tuple[str, str], ...] = ()

    def command(self, port: int) -> list[str]:
        if self.server == "uvicorn":
            return [
                *[sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), self.target],
                *["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                *["--loop", "uvloop", "--http", "httptools", "--no-access-log"],
                *["--log-level", "warning"],
            ]
        return [
            *[sys.executable, "-m", "gunicorn", "--chdir", str(HERE), "--workers", "1"],
            *["--worker-class", "gthread", "--threads", str(GUNICORN_THREADS)],
            *["--bind", f"127.0.0.1:{port}", "--log-level", "warning", self.target],
        ]


DJANGO = "django_site.wsgi:application"
APPS = (
    App("fastapi-open", "unguarded", "FastAPI", "uvicorn", "fastapi_app:app", "/open",
        "authgate", "open"),
    App("fastapi-authgate", "authgate RequireUser", "FastAPI", "uvicorn", "fastapi_app:app",
        "/guarded", "authgate", "authgate"),
    App("fastapi-users", "fastapi-users current_user (JWTStrategy)", "FastAPI", "uvicorn",
        "fastapi_users_app:app", "/guarded", "fastapi-users", "peer"),
    App("pyjwt", "naive PyJWT dependency", "FastAPI", "uvicorn", "pyjwt_app:app", "/guarded",
        "pyjwt", "peer"),
    App("fastapi-null", "null guard: a dependency that checks nothing", "FastAPI", "uvicorn",
        "fastapi_app:app", "/null-guard", "authgate", "floor"),
    App("fastapi-authgate-nocache", "authgate RequireUser, token cache off", "FastAPI",
        "uvicorn", "fastapi_app:app", "/guarded", "authgate", "extra",
        (("BENCH_TOKEN_CACHE_SIZE", "0"),)),
    App("starlette-open", "unguarded", "Starlette", "uvicorn", "starlette_app:app", "/open",
        "authgate", "open"),
    App("starlette-authgate", "authgate AuthenticationMiddleware", "Starlette", "uvicorn",
        "starlette_app:app", "/guarded", "authgate", "authgate"),
    App("starlette-null", "null guard: a backend that checks nothing", "Starlette",
        "uvicorn", "starlette_app:app", "/null-guard", "authgate", "floor"),
    App("flask-open", "unguarded", "Flask", "gunicorn", "flask_app:app", "/open", "authgate",
        "open"),
    App("flask-authgate", "authgate require_token", "Flask", "gunicorn", "flask_app:app",
        "/guarded", "authgate", "authgate"),
    App("flask-jwt-extended", "Flask-JWT-Extended jwt_required", "Flask", "gunicorn",
        "flask_jwt_app:app", "/guarded", "flask-jwt-extended", "peer"),
    App("drf-open", "unguarded", "Django REST framework", "gunicorn", DJANGO, "/open",
        "authgate", "open"),
    App("drf-authgate", "authgate BearerAuthentication", "Django REST framework", "gunicorn",
        DJANGO, "/guarded", "authgate", "authgate"),
    App("simplejwt", "simplejwt JWTAuthentication", "Django REST framework", "gunicorn",
        DJANGO, "/simplejwt/guarded", "simplejwt", "peer"),
    App("simplejwt-stateless", "simplejwt JWTStatelessUserAuthentication",
        "Django REST framework", "gunicorn", DJANGO, "/simplejwt/stateless", "simplejwt",
        "peer"),
    App("django-open", "unguarded", "Django", "gunicorn", DJANGO, "/plain/open", "authgate",
        "open"),
    App("django-authgate", "authgate require_token", "Django", "gunicorn", DJANGO,
        "/plain/guarded", "authgate", "authgate"),
)  # fmt: skip
BY_KEY = {app.key: app for app in APPS}
# authgate vs each peer: (authgate's key, the peer's key, a target or only reported).
MATCHES = (
    ("fastapi-authgate", "fastapi-users", True),
    ("fastapi-authgate", "pyjwt", True),
    ("flask-authgate", "flask-jwt-extended", True),
    ("drf-authgate", "simplejwt", True),
    ("drf-authgate", "simplejwt-stateless", False),
)
FRAMEWORKS = ("FastAPI", "Starlette", "Flask", "Django REST framework", "Django")
# What each guard checks on every request, for the report.
CHECKS = (
    (
        "authgate (every adapter)",
        "RS256 signature with the key its `kid` names (the key fixes the algorithm); `typ`"
        " at+jwt; header parameters; `exp`, `nbf`, `iat` (10 s leeway) and `exp - iat` at"
        " most the token lifetime; `iss`; `aud`; claim types",
        "yes: ended sessions and signed-out users, in memory, fed by Redis pub/sub",
        "no",
        "verified tokens are cached (10,000); every hit still checks expiry and revocation",
    ),
    (
        "fastapi-users current_user (JWTStrategy)",
        "RS256 signature (PyJWT), `exp`, `aud`",
        "no (a JWT cannot be revoked; signing out does nothing to it)",
        "yes: the user row by `sub` (SQLAlchemy, aiosqlite), then `is_active`",
        "no",
    ),
    (
        "naive PyJWT dependency",
        "RS256 signature, `exp`, `aud`, a `sub`",
        "no",
        "no",
        "no",
    ),
    (
        "Flask-JWT-Extended jwt_required",
        "RS256 signature (PyJWT), `exp`, `nbf`, the `type` claim (access)",
        "no (its blocklist is a callback the app writes and backs with a store; none here)",
        "no (no user_lookup_loader)",
        "no",
    ),
    (
        "simplejwt JWTAuthentication",
        "RS256 signature (PyJWT), `exp`, `aud`, `token_type` (access)",
        "no (its blacklist app covers refresh tokens)",
        "yes: the user row by `user_id` (Django ORM, SQLite), then `is_active`",
        "no",
    ),
    (
        "simplejwt JWTStatelessUserAuthentication",
        "as JWTAuthentication",
        "no",
        "no (a TokenUser from the claims)",
        "no",
    ),
)

Sample = dict[str, float]


# --- one framework, one round -----------------------------------------------------------


def check_guard(app: App, url: str, token: str) -> None:
    """The route answers 200 with the token, and (when guarded) 401 without it."""
    with httpx.Client(timeout=10) as http:
        answer = http.get(url, headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 200:
            raise RuntimeError(f"GET {app.path} with the token answered {answer.status_code}")
        if app.kind not in ("open", "floor"):
            refused = http.get(url).status_code
            if refused != 401:
                raise RuntimeError(f"GET {app.path} without a token answered {refused}")


@dataclass
class Running:
    """One app's server process during a round, and what wrk measured of it so far."""

    app: App
    process: subprocess.Popen[bytes]
    url: str
    bearer: str
    folder: Path
    requests: int = 0
    failures: int = 0
    errors: int = 0
    seconds: float = 0.0
    others_cpu: float = 0.0  # CPU-seconds share, weighted by slice duration
    cpu: float = 0.0  # CPU seconds the server used while loaded
    p99s: list[float] | None = None

    def sample(self) -> Sample:
        if self.seconds <= 0:
            return {"failed": 1}
        return {
            "rps": (self.requests - self.failures) / self.seconds,
            "cpu_us": self.cpu / self.requests * 1e6 if self.requests else NAN,
            "p99_ms": harness.median(self.p99s or []),
            "errors": self.errors,
            "others_cpu": self.others_cpu / self.seconds,
        }


def measure_framework(
    apps: Sequence[App],
    args: argparse.Namespace,
    folder: Path,
    env: dict[str, str],
    tokens: dict[str, str],
) -> dict[str, Sample]:
    """Every app of one framework, each in a fresh server process, measured in turns.

    All the framework's servers start together; wrk then loads one at a time, in slices
    of --slice seconds taken in rotating order until each has had --duration seconds, so
    that the machine's noise (it is shared) falls alike on the apps that are compared.
    """
    running: list[Running] = []
    failed: dict[str, Sample] = {}
    try:
        for app in apps:
            app_folder = folder / app.key
            app_folder.mkdir(parents=True)
            port = harness.free_port()
            with (app_folder / "server.log").open("wb") as log:
                process = subprocess.Popen(  # noqa: S603 - our own apps, by absolute path
                    app.command(port),
                    cwd=HERE,
                    env={**env, **dict(app.env)},
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            bearer = f"Authorization: Bearer {tokens[app.token]}"
            url = f"http://127.0.0.1:{port}{app.path}"
            running.append(Running(app, process, url, bearer, app_folder, p99s=[]))
        for run in list(running):
            try:
                harness.wait_ready(run.url, run.process, START_TIMEOUT)
                check_guard(run.app, run.url, tokens[run.app.token])
                wrk(run, WARM_UP, run.folder / "wrk-warm-up.txt")
            except Exception as exc:  # a broken app is reported, not fatal
                print(f"    {run.app.label} FAILED: {exc}; see {run.folder}", flush=True)
                failed[run.app.key] = {"failed": 1}
                running.remove(run)
        slices = max(1, round(args.duration / args.slice))
        seconds = max(1, round(args.duration / slices))
        for turn in range(slices):
            shift = turn % max(1, len(running))
            for run in running[shift:] + running[:shift]:
                clock, servers = harness.CpuClock.now(), servers_cpu(running)
                own = harness.tree_cpu(run.process.pid)
                result = wrk(run, seconds, run.folder / f"wrk-{turn + 1}.txt")
                run.cpu += harness.tree_cpu(run.process.pid) - own
                others = harness.CpuClock.now().others_since(
                    clock, running=servers_cpu(running) - servers
                )
                if result.parsed:
                    run.requests += result.requests
                    run.failures += result.failures
                    run.errors += result.errors
                    run.seconds += result.duration
                    run.others_cpu += others * result.duration
                    run.p99s = [*(run.p99s or []), result.p99_ms]
    finally:
        for run in running:
            harness.stop_server(run.process)
    samples = {run.app.key: run.sample() for run in running} | failed
    for run in running:
        sample = samples[run.app.key]
        print(
            f"    {run.app.label}: {_num(sample.get('rps', NAN))} req/s,"
            f" {_num(sample.get('cpu_us', NAN))} µs CPU/request,"
            f" p99 {_num(sample.get('p99_ms', NAN))} ms, errors {run.errors};"
            f" other processes used {_pct(sample.get('others_cpu', NAN))} of the CPUs",
            flush=True,
        )
    return samples


def servers_cpu(running: Sequence[Running]) -> float:
    return sum(harness.tree_cpu(run.process.pid) for run in running)


def wrk(run: Running, seconds: int, log: Path) -> harness.WrkResult:
    command = harness.wrk_command(THREADS, CONNECTIONS, seconds, "report.lua", run.url, run.bearer)
    return harness.run_wrk(command, seconds, log, {})


# --- the run ------------------------------------------------------------------------------


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """A throwaway redis-server for the authgate apps' revocation feed, if one is installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    port = harness.free_port()
    process = subprocess.Popen(  # noqa: S603 - redis-server by absolute path, loopback only
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.1)
    process.kill()
    return None, None


def mint_tokens(env: dict[str, str]) -> dict[str, str]:
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(HERE / "mint.py")],
        env=env,
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/adapters/mint.py failed:\n{done.stderr}")
    tokens: dict[str, str] = json.loads(done.stdout)
    return tokens


def choose(args: argparse.Namespace) -> list[App]:
    if not args.only:
        return list(APPS)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_KEY]
    if unknown:
        raise SystemExit(f"unknown app(s) {', '.join(unknown)}; choose from {', '.join(BY_KEY)}")
    return [app for app in APPS if app.key in names]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument(
        "--slice", type=int, default=2, help="seconds of each turn of wrk (default 2)"
    )
    parser.add_argument("--only", help="comma-separated subset of: " + ", ".join(BY_KEY))
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help="folder for adapters.md and adapters.png (default bench/results)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=15,
        help="before each framework, wait up to this many seconds while other processes keep"
        " more than 15%% of the CPU busy (default 15, at most 120 in all; 0 never waits)",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.slice < 1:
        parser.error("--rounds, --duration and --slice must be at least 1")
    apps = choose(args)
    harness.tool("wrk")

    scratch = Path(tempfile.mkdtemp(prefix="authgate-adapters-bench-"))
    print(f"scratch folder (keys, databases, server logs, raw wrk output): {scratch}")
    material.make_keys(scratch)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTHGATE_", "BENCH_"))}
    env |= {"BENCH_ADAPTERS_DIR": str(scratch), "DJANGO_SETTINGS_MODULE": "django_site.settings"}
    redis, redis_url = start_redis(scratch)
    if redis_url is not None:
        env["BENCH_REDIS_URL"] = redis_url
    results: dict[str, list[Sample]] = {app.key: [] for app in apps}
    notes = {"redis": "yes" if redis_url else "no (redis-server is not installed)"}
    quiet_spent = 0.0
    started = time.monotonic()
    frameworks = [f for f in FRAMEWORKS if any(app.framework == f for app in apps)]
    try:
        for round_no in range(args.rounds):
            tokens = mint_tokens(env)  # fresh each round: they live an hour
            notes[f"source r{round_no + 1}"] = harness.source_state()
            shift = round_no % len(frameworks)
            for framework in frameworks[shift:] + frameworks[:shift]:
                group = [app for app in apps if app.framework == framework]
                print(f"[round {round_no + 1}/{args.rounds}] {framework}", flush=True)
                spent = time.monotonic()
                harness.wait_for_quiet(min(args.quiet_wait, max(0.0, QUIET_BUDGET - quiet_spent)))
                quiet_spent += time.monotonic() - spent
                folder = scratch / f"r{round_no + 1}-{framework.replace(' ', '-')}"
                for key, sample in measure_framework(group, args, folder, env, tokens).items():
                    results[key].append(sample)
    finally:
        if redis is not None:
            harness.stop_server(redis)
    elapsed = time.monotonic() - started

    args.results.mkdir(parents=True, exist_ok=True)
    text = report(results, apps, args, notes, elapsed)
    (args.results / "adapters.md").write_text(text)
    chart(results, apps, args)
    print()
    print(text)
    print(f"wrote {args.results / 'adapters.md'} and {args.results / 'adapters.png'}")


# --- the report ---------------------------------------------------------------------------


_num, _pct, _times = harness.num, harness.pct, harness.times


def rps(results: dict[str, list[Sample]], key: str) -> float:
    result: float = harness.median([s.get("rps", NAN) for s in results.get(key, [])])
    return result


def ratio(results: dict[str, list[Sample]], mine: str, theirs: str) -> float:
    """The median over rounds of mine ÷ theirs (req/s), each round's pair measured together."""
    if mine not in results or theirs not in results:
        return NAN
    pairs = zip(results[mine], results[theirs], strict=True)
    result: float = harness.median(
        [harness.ratio(a.get("rps", NAN), b.get("rps", NAN)) for a, b in pairs]
    )
    return result


def cpu_us(results: dict[str, list[Sample]], key: str) -> float:
    result: float = harness.median([s.get("cpu_us", NAN) for s in results.get(key, [])])
    return result


def added_us(results: dict[str, list[Sample]], guarded: str, open_key: str) -> float:
    """What the guard adds to the server's CPU time per request: the median over rounds of
    guarded minus unguarded, in µs (robust where req/s is not: the machine is shared)."""
    if guarded not in results or open_key not in results:
        return NAN
    pairs = zip(results[guarded], results[open_key], strict=True)
    result: float = harness.median([a.get("cpu_us", NAN) - b.get("cpu_us", NAN) for a, b in pairs])
    return result


def _us(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:+.0f} µs"


def _verdict(value: float, target: float) -> str:
    return "n/a" if math.isnan(value) else ("met" if value >= target else "**NOT met**")


def open_key(app: App) -> str:
    return next(a.key for a in APPS if a.framework == app.framework and a.kind == "open")


def report(
    results: dict[str, list[Sample]],
    apps: Sequence[App],
    args: argparse.Namespace,
    notes: dict[str, str],
    elapsed: float,
) -> str:
    command = " ".join([".venv/bin/python", "bench/adapters/run.py", *sys.argv[1:]])
    everything = [s for samples in results.values() for s in samples]
    others = [s["others_cpu"] for s in everything if "others_cpu" in s]
    lines = [
        "# Adapter benchmark: the guard's cost in a protected app, and the guards it replaces",
        "",
        f"`{command}` — {args.rounds} round(s). Each round starts every app of a framework"
        " in a fresh server process, warms each up for"
        f" {WARM_UP} s, then loads them in turns of {args.slice} s of `wrk -t{THREADS}"
        f" -c{CONNECTIONS}` (order rotating) until each has had {args.duration} s, so the"
        " shared machine's noise falls alike on the apps compared; frameworks rotate from"
        " round to round. Req/s and CPU are medians over rounds, ratios medians of per-round"
        f" ratios. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, took {elapsed / 60:.1f} min.",
        "",
        *setup_lines(notes),
        harness.noise_line("app", others),
        "",
        f"## The guard's cost: guarded ÷ unguarded, same app and run (target ≥ {GUARD_TARGET:.0%})",
        "",
    ]
    rows = []
    for framework in FRAMEWORKS:
        for app in [a for a in apps if a.framework == framework and a.kind != "open"]:
            if app.kind not in ("authgate", "floor"):
                continue
            base = open_key(app)
            value = ratio(results, app.key, base)
            rows.append(
                [
                    framework,
                    app.label if app.kind == "authgate" else f"*(reference) {app.label}*",
                    app.server,
                    _num(rps(results, base)),
                    _num(rps(results, app.key)),
                    _pct(value),
                    f"{_num(cpu_us(results, base))} → {_num(cpu_us(results, app.key))}",
                    _us(added_us(results, app.key, base)),
                    _verdict(value, GUARD_TARGET) if app.kind == "authgate" else "",
                ]
            )
    lines += harness.table(
        [
            "framework",
            "guard",
            "server",
            "unguarded req/s",
            "guarded req/s",
            "ratio",
            "server CPU µs/request",
            "added",
            f"≥ {GUARD_TARGET:.0%}",
        ],
        rows,
    )
    lines += [
        "Server CPU per request is the server process's (and its worker's) CPU time over the"
        " requests it answered: less sensitive than req/s to what else the machine runs."
        " The null guards are framework machinery with nothing checked: the least any guard"
        " written as a FastAPI dependency, or on Starlette's AuthenticationMiddleware with"
        " `@requires`, can cost.",
        "",
        f"## authgate ÷ each peer, same route, server and token type (target ≥ {PEER_TARGET}x)",
        "",
    ]
    rows = []
    for mine, theirs, is_target in MATCHES:
        if mine not in results or theirs not in results:
            continue
        peer, base = BY_KEY[theirs], open_key(BY_KEY[theirs])
        value = ratio(results, mine, theirs)
        rows.append(
            [
                peer.framework,
                peer.label,
                _num(rps(results, theirs)),
                _num(rps(results, mine)),
                _times(value),
                _times(ratio(results, base, theirs)),
                f"{_num(cpu_us(results, mine))} vs {_num(cpu_us(results, theirs))}",
                _verdict(value, PEER_TARGET) if is_target else "(reported)",
            ]
        )
    lines += harness.table(
        [
            "framework",
            "peer",
            "peer req/s",
            "authgate req/s",
            "authgate ÷ peer",
            "ceiling (unguarded ÷ peer)",
            "server CPU µs/request, authgate vs peer",
            f"≥ {PEER_TARGET}x",
        ],
        rows,
    )
    lines += [
        "The ceiling is what a guard costing nothing would score against that peer in that"
        " framework and server: where it is below the target, no guard can meet it there.",
        "",
    ]
    if "fastapi-authgate-nocache" in results:
        key = "fastapi-authgate-nocache"
        lines += [
            "## authgate with its token cache off (FastAPI)",
            "",
            "With `AUTHGATE_TOKEN_CACHE_SIZE=0` every request verifies the RS256 signature and"
            f" reads the claims, as the peers do: {_num(rps(results, key))} req/s"
            f" ({_num(cpu_us(results, key))} µs CPU/request),"
            f" {_pct(ratio(results, key, 'fastapi-open'))} of unguarded,"
            f" {_times(ratio(results, key, 'pyjwt'))} the naive PyJWT dependency"
            f" and {_times(ratio(results, key, 'fastapi-users'))} fastapi-users. With the cache"
            " (the rows above), a token is verified once and each later request checks its"
            " expiry and revocation only: that is what a client sending its token with every"
            " request meets; this row is a token seen once.",
            "",
        ]
    lines += [
        "## What each guard checks per request",
        "",
        "Peers without a revocation check do less work than authgate: a token of a"
        " signed-out user passes them until its `exp`.",
        "",
        *harness.table(
            ["guard", "token checks", "revocation", "user loaded per request", "cache"],
            [list(row) for row in CHECKS],
        ),
    ]
    lines += ["## Per round", ""]

    def cells(key: str, field: str, shown: Callable[[float], str]) -> str:
        return " / ".join(shown(s.get(field, NAN)) for s in results[key])

    lines += harness.table(
        ["framework", "app", "path", "req/s", "CPU µs/req", "p99 ms", "errors", "others' CPU"],
        [
            [
                app.framework,
                app.label,
                f"`{app.path}`",
                cells(app.key, "rps", _num),
                cells(app.key, "cpu_us", _num),
                cells(app.key, "p99_ms", _num),
                cells(app.key, "errors", lambda v: "n/a" if math.isnan(v) else f"{v:.0f}"),
                cells(app.key, "others_cpu", _pct),
            ]
            for app in apps
        ],
    )
    lines += [
        "Notes:",
        "",
        '- Every app answers `{"sub": ...}`: the constant `anonymous` unguarded, the'
        " token's subject guarded. Unguarded and guarded requests carry the same Bearer"
        " header; the Starlette middleware wraps /guarded only (per-route middleware), since"
        " on the whole app it would verify /open's header too. In each app /open is declared"
        " before /guarded (and /null-guard last), so a guarded request also pays for trying"
        " one more route.",
        "- Errors are answers other than 2xx/3xx plus socket errors and timeouts; before each"
        " measurement the route is checked to answer 200 with the token and (guarded) 401"
        " without one.",
        '- Per-round cells are in round order. "Others\' CPU" is the share of the machine'
        " used by other processes while that app was loaded; before each framework the script"
        " waits (a little) for it to fall below 15%.",
        "",
    ]
    return "\n".join(lines)


def setup_lines(notes: dict[str, str]) -> list[str]:
    ver = harness.package_version
    sources = sorted({v for k, v in notes.items() if k.startswith("source ")})
    source = (
        f"- authgate source measured: {sources[0]}."
        if len(sources) == 1
        else f"- **authgate's source changed during the run**: {'; '.join(sources)}."
    )
    return [
        f"- Machine: {harness.machine()}; wrk and the server share them over loopback.",
        f"- Python {platform.python_version()}. ASGI: uvicorn {ver('uvicorn')} (1 worker,"
        f" uvloop {ver('uvloop')}, httptools {ver('httptools')}, --no-access-log). WSGI:"
        f" gunicorn {ver('gunicorn')} (1 worker, gthread, {GUNICORN_THREADS} threads).",
        f"- Frameworks: fastapi {ver('fastapi')}, starlette {ver('starlette')}, flask"
        f" {ver('flask')}, django {ver('django')}, djangorestframework"
        f" {ver('djangorestframework')}.",
        f"- Peers: fastapi-users {ver('fastapi-users')} (fastapi-users-db-sqlalchemy"
        f" {ver('fastapi-users-db-sqlalchemy')}, SQLAlchemy {ver('sqlalchemy')}, aiosqlite"
        f" {ver('aiosqlite')}), PyJWT {ver('pyjwt')}, Flask-JWT-Extended"
        f" {ver('flask-jwt-extended')}, djangorestframework-simplejwt"
        f" {ver('djangorestframework-simplejwt')}; authgate's verifier on joserfc"
        f" {ver('joserfc')}, cryptography {ver('cryptography')}.",
        "- Tokens: RS256 for every app, all signed by one RSA-2048 key made for the run;"
        " each library mints its own token shape (authgate's as its server issues them).",
        "- authgate's verifier: StaticKeys from the run's JWK Set (no fetch while measuring),"
        " the default token cache (10,000), and the revocation feed subscribed to a"
        f" throwaway local redis-server: {notes.get('redis', '?')}.",
        "- Django: startproject's middleware, DRF rendering JSON only, persistent SQLite"
        " connections (CONN_MAX_AGE), which spares simplejwt's user lookup a connection per"
        " request. fastapi-users: its documented SQLAlchemy setup on an aiosqlite file.",
        f"- {harness.tool_version('wrk', '-v')}.",
        source,
    ]


def chart(results: dict[str, list[Sample]], apps: Sequence[App], args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    colours = {
        "open": "#9e9e9e",
        "floor": "#d0d0d0",
        "authgate": "#2a9d8f",
        "peer": "#f4a261",
        "extra": "#7fcdbb",
    }
    shown = [a for f in FRAMEWORKS for a in apps if a.framework == f]
    values = [rps(results, a.key) for a in shown]
    labels = [f"{a.framework}: {a.label}" for a in shown]
    figure, axes = plt.subplots(figsize=(11, 0.42 * len(shown) + 1.6))
    positions = list(range(len(shown)))[::-1]
    bars = axes.barh(
        positions,
        [0 if math.isnan(v) else v for v in values],
        color=[colours[a.kind] for a in shown],
    )
    for bar, app, value in zip(bars, shown, values, strict=True):
        note = _num(value)
        if app.kind in ("authgate", "extra", "floor"):
            note += f"  ({_pct(ratio(results, app.key, open_key(app)))} of unguarded)"
        elif app.kind == "peer":
            mine = next((m for m, t, _ in MATCHES if t == app.key), None)
            if mine is not None:
                note += f"  (authgate {_times(ratio(results, mine, app.key))})"
        axes.annotate(
            note,
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    axes.set_yticks(positions, labels, fontsize=8)
    axes.set_xlabel("requests/s, 200 answers (median of rounds)")
    axes.set_xlim(0, max([v for v in values if not math.isnan(v)], default=1) * 1.35)
    axes.set_title(
        f"One small JSON route per app: medians of {args.rounds} round(s) x {args.duration} s,"
        f" wrk -t{THREADS} -c{CONNECTIONS}, {os.cpu_count()} cores shared by wrk and the server",
        fontsize=9,
    )
    kinds = {"open": "unguarded", "floor": "null guard", "authgate": "authgate", "peer": "peer"}
    handles = [Patch(color=colours[k]) for k in kinds]
    axes.legend(handles, list(kinds.values()), fontsize=8, loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(args.results / "adapters.png", dpi=130)
    plt.close(figure)


if __name__ == "__main__":
    main()
