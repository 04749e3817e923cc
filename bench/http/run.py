"""HTTP benchmark: authgate against the Express tutorial, a naive and a plain FastAPI app, with wrk.

    .venv/bin/python bench/http/run.py [--rounds 3] [--duration 10]
        [--servers express,naive,plain,authgate,... | --only authgate] [--workers N]

Subjects (servers: one process each, fresh for every round, on a free 127.0.0.1 port):

- express              the tutorial's Express app (bench/peers/express), string secrets
- express-keyobject    the same app with each secret wrapped once in a KeyObject
- naive                FastAPI + PyJWT + bcrypt on the event loop (bench/peers/naive_fastapi.py)
- plain                a plain FastAPI app's unguarded constant route, under authgate's server
                       settings (bench/peers/plain_fastapi.py): the reference for GET /me
                       and GET /sessions
- authgate             `python -m authgate serve --workers 1` on a fresh SQLite file, RS256
- authgate-postgresql  the same on a fresh database of a throwaway PostgreSQL cluster
                       (tests/services.py's, started once for the run)
- authgate-es256, authgate-eddsa   the same on SQLite, signing with ES256 or EdDSA (POST /token)
- argon2               no server: argon2-cffi alone verifying authgate's argon2id hash in as
                       many threads as the server's hashing pool (bench/http/inprocess.py),
                       the ceiling for sign-ins/s
- costs                no server: in-process µs of one `Service.refresh` on SQLite and
                       PostgreSQL, and of issuing one access token under RS256, ES256, EdDSA
- `--workers N` (N > 1) adds "authgate (N workers)", reported separately from the targets.

Each round runs every subject in turn (the order rotates from round to round). The steps
(lineup.py says which subject takes which): RSS at idle; GET /test, /me and /sessions at
c=64 with the token of a user with 3 sessions (GET /constant for the plain app); GET /test
during a 16-way sign-in flood; sign-in throughput at c=16; POST /token with 16
refresh-token chains; the RSS peak; and the server's CPU time per request. The report
(report.py: medians over rounds; ratios are medians of per-round ratios; the targets table)
goes to bench/results/http.md and the chart to bench/results/http.png.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/harness.py
sys.path.insert(0, str(Path(__file__).resolve().parent))  # lineup.py and report.py

# bench/scale.py imports this module for sign_in and some of lineup.py's constants: the
# `X as X` imports re-export those by their names.

from harness import (
    CpuClock,
    WrkResult,
    finish_wrk,
    free_port,
    ms,
    num,
    pct,
    process_tree,
    ratio,
    run_wrk,
    source_state,
    start_wrk,
    stop_server,
    tool,
    tree_cpu,
    wait_for_quiet,
    wait_ready,
    wrk_command,
)
from lineup import (
    ALL_SERVERS,
    COST_SECONDS,
    EXPRESS_DIR,
    FLOOD,
    GET_PATHS,
    INPROCESS,
    NAN,
    QUIET_BUDGET,
    ROOT,
    SESSIONS,
    START_TIMEOUT,
    Server,
    multi_worker,
)
from lineup import CHAINS as CHAINS
from lineup import EMAIL as EMAIL
from lineup import GENEROUS as GENEROUS
from lineup import PASSWORD as PASSWORD
from lineup import RESULTS as RESULTS
from lineup import SETTLE as SETTLE
from report import Sample, chart, report

# --- memory -------------------------------------------------------------------------------


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


# --- one server, one round ----------------------------------------------------------------


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


class PostgresCluster:
    """The throwaway PostgreSQL the PostgreSQL subjects need: tests/services.py's, started once.

    A fresh database per subject and round. The test cluster runs with fsync off; each
    database turns synchronous_commit back on, so a commit is written to the WAL before
    it is acknowledged and survives a crash of PostgreSQL (not of the machine), as
    authgate's SQLite with synchronous=NORMAL survives a crash of the server process.
    """

    def __init__(self) -> None:
        self.cluster: Any = None
        self.problem = ""

    def start(self) -> bool:
        sys.path.append(str(ROOT / "tests"))
        try:
            import psycopg
            import pytest

            from services import Postgres
        except ImportError as exc:
            self.problem = f"cannot start PostgreSQL ({exc}; install '.[test]')"
            return False
        try:
            self.cluster = Postgres().start()
        except (Exception, pytest.skip.Exception, pytest.fail.Exception) as exc:
            self.problem = f"cannot start PostgreSQL: {exc}"
            return False
        with psycopg.connect(self.cluster.conninfo("postgres")) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        self.version = row[0] if row else "?"
        return True

    def database(self, name: str) -> str:
        import psycopg

        url: str = self.cluster.create_database(name)
        with psycopg.connect(self.cluster.conninfo("postgres"), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = on')
        return url

    def cpu(self) -> float:
        return tree_cpu(self.cluster.process.pid) if self.cluster is not None else 0.0

    def stop(self) -> None:
        if self.cluster is not None:
            self.cluster.stop()

    @property
    def note(self) -> str:
        return (
            f"PostgreSQL {self.version} on this machine (a throwaway cluster, tests/services.py):"
            " fsync off, synchronous_commit on (a commit survives a crash of PostgreSQL, not of"
            " the machine, like authgate's SQLite at synchronous=NORMAL); one database per"
            " round; authgate's own pool."
        )


@dataclass
class Steps:
    """The steps of one server in one round, each adding its figures to `sample`."""

    server: Server
    url: str
    duration: int
    folder: Path
    pid: int
    sample: Sample
    database_cpu: Callable[[], float]
    bearer: tuple[str, ...] = ()

    def _run(
        self, name: str, command: list[str], env: dict[str, str], seconds: int | None = None
    ) -> tuple[WrkResult, float, float]:
        """wrk's result, and the server's and the database's CPU µs per request answered."""
        cpu, database = tree_cpu(self.pid), self.database_cpu()
        result = run_wrk(command, seconds or self.duration, self.folder / f"wrk-{name}.txt", env)
        answered = result.requests or NAN
        return (
            result,
            (tree_cpu(self.pid) - cpu) / answered * 1e6,
            (self.database_cpu() - database) / answered * 1e6,
        )

    def get(self, step: str) -> None:
        path = GET_PATHS[step]
        command = wrk_command(2, 64, self.duration, "report.lua", self.url + path, *self.bearer)
        result, cpu, _ = self._run(step, command, {})
        self.sample |= {
            f"{step}_rps": result.ok_per_second,
            f"{step}_p50_ms": result.p50_ms,
            f"{step}_p99_ms": result.p99_ms,
            f"{step}_errors": result.errors,
            f"{step}_cpu_us": cpu,
        }
        print(
            f"    GET {path:<11} {num(result.ok_per_second)} req/s, p99 {ms(result.p99_ms)}"
            f" ms, errors {result.errors}, server CPU {num(cpu)} µs/req",
            flush=True,
        )

    def flood(self, body: dict[str, str]) -> None:
        """GET /test during a sign-in flood."""
        flood_seconds = self.duration + 2
        flood = start_wrk(
            wrk_command(1, FLOOD, flood_seconds, "signin.lua", f"{self.url}/sign-in"),
            body,
            self.folder / "wrk-flood-signin.txt",
        )
        time.sleep(1)
        loaded = run_wrk(
            wrk_command(1, 64, self.duration, "report.lua", f"{self.url}/test", *self.bearer),
            self.duration,
            self.folder / "wrk-flood-test.txt",
            {},
        )
        flooding = finish_wrk(flood, flood_seconds, self.folder / "wrk-flood-signin.txt")
        self.sample |= {
            "flood_test_rps": loaded.ok_per_second,
            "flood_test_p99_ms": loaded.p99_ms,
            "flood_test_errors": loaded.errors,
            "flood_test_timeouts": loaded.timeouts,
            "flood_retention": ratio(
                loaded.ok_per_second, self.sample.get("test_rps", NAN), over_zero=math.inf
            ),
            "flood_signin_rps": flooding.ok_per_second,
        }
        print(
            f"    under flood     {num(loaded.ok_per_second)} req/s"
            f" ({pct(self.sample['flood_retention'])} of unloaded), p99 {ms(loaded.p99_ms)}"
            f" ms, errors {loaded.errors}; sign-ins/s {num(flooding.ok_per_second)}",
            flush=True,
        )

    def signin(self, body: dict[str, str]) -> None:
        """Sign-in throughput, c=16."""
        command = wrk_command(2, FLOOD, self.duration, "signin.lua", f"{self.url}/sign-in")
        signin, cpu, _ = self._run("signin", command, body)
        self.sample |= {
            "signin_rps": signin.ok_per_second,
            "signin_p50_ms": signin.p50_ms,
            "signin_p99_ms": signin.p99_ms,
            "signin_errors": signin.errors,
            "signin_cpu_us": cpu,
        }
        print(
            f"    POST /sign-in   {num(signin.ok_per_second)}/s, p99 {ms(signin.p99_ms)} ms,"
            f" errors {signin.errors}",
            flush=True,
        )

    def token(self, http: httpx.Client) -> None:
        """POST /token, one refresh-token chain per connection and wrk thread."""
        chains = [sign_in(http)[self.server.refresh_key] for _ in range(CHAINS)]
        tokens_file = self.folder / "refresh-tokens.txt"
        tokens_file.write_text("\n".join(chains) + "\n")
        command = wrk_command(CHAINS, CHAINS, self.duration, "refresh.lua", f"{self.url}/token")
        env = {
            "BENCH_TOKENS_FILE": str(tokens_file),
            "BENCH_BODY_KEY": self.server.refresh_body_key,
            "BENCH_ROTATES": "1" if self.server.rotates else "0",
        }
        refresh, cpu, database = self._run("token", command, env)
        self.sample |= {
            "token_rps": refresh.ok_per_second,
            "token_p99_ms": refresh.p99_ms,
            "token_errors": refresh.errors,
            "token_cpu_us": cpu,
        }
        if self.server.postgresql:
            self.sample["token_db_cpu_us"] = database
        print(
            f"    POST /token     {num(refresh.ok_per_second)}/s, p99 {ms(refresh.p99_ms)} ms,"
            f" errors {refresh.errors}, server CPU {num(cpu)} µs/call"
            + (f" (+ PostgreSQL {num(database)})" if self.server.postgresql else ""),
            flush=True,
        )


def measure(
    server: Server,
    args: argparse.Namespace,
    folder: Path,
    notes: dict[str, str],
    incidents: list[str],
    database_url: str | None = None,
    database_cpu: Callable[[], float] = lambda: 0.0,
) -> Sample:
    folder.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command, env, cwd = server.launch(port, folder, database_url)
    sample: Sample = {}
    clock, database_start = CpuClock.now(), database_cpu()
    with (folder / "server.log").open("wb") as server_log:
        process = subprocess.Popen(  # noqa: S603 - our own servers, by absolute path
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=server_log
        )
    sampler = RssSampler(process.pid)
    sampler.start()
    steps = Steps(server, url, args.duration, folder, process.pid, sample, database_cpu)
    body = {"BENCH_BODY": f'{{"email": "{EMAIL}", "password": "{PASSWORD}"}}'}
    try:
        wait_ready(url + server.ready_path, process, START_TIMEOUT)
        with httpx.Client(base_url=url, timeout=60) as http:
            http.get(server.ready_path)  # the warm-up request
            time.sleep(0.5)
            sample["rss_idle_mib"] = rss_mib(process.pid)
            if server.kind != "plain":
                http.post(
                    "/sign-up", json={"email": EMAIL, "password": PASSWORD}
                ).raise_for_status()
                access = [sign_in(http) for _ in range(SESSIONS)][-1][server.access_key]
                steps.bearer = (f"Authorization: Bearer {access}",)
                if server.kind == "authgate" and not server.postgresql:
                    notes.setdefault(
                        "password hash", stored_hash_parameters(folder / "authgate.db")
                    )
            for index, step in enumerate(server.steps):
                if index:
                    time.sleep(SETTLE)
                if step in GET_PATHS:
                    steps.get(step)
                elif step == "flood":
                    steps.flood(body)
                elif step == "signin":
                    steps.signin(body)
                elif step == "token":
                    steps.token(http)
    except Exception as exc:  # a broken round is reported, not fatal
        print(f"    FAILED: {exc}; server log: {folder / 'server.log'}", flush=True)
        incidents.append(f"{server.label}: {exc} (log: {folder / 'server.log'})")
    finally:
        sample["rss_peak_mib"] = sampler.stop()
        stop_server(process)
    end = CpuClock.now()
    sample["steal_cpu"] = end.steal_since(clock)
    # PostgreSQL works for the server under test: not "other processes".
    sample["others_cpu"] = end.others_since(clock, running=database_cpu() - database_start)
    print(
        f"    RSS             idle {num(sample.get('rss_idle_mib', NAN))} MiB,"
        f" peak {num(sample['rss_peak_mib'])} MiB; other processes used"
        f" {pct(sample['others_cpu'])} of the CPUs, the host stole {pct(sample['steal_cpu'])}",
        flush=True,
    )
    return sample


def measure_inprocess(
    server: Server,
    args: argparse.Namespace,
    folder: Path,
    notes: dict[str, str],
    incidents: list[str],
    postgresql_url: str | None,
) -> Sample:
    """The argon2id ceiling or authgate's in-process costs (bench/http/inprocess.py)."""
    folder.mkdir(parents=True)
    if server.kind == "argon2":
        command = [sys.executable, str(INPROCESS), "ceiling", "--seconds", str(args.duration)]
    else:
        urls = [f"sqlite:///{folder / 'costs.db'}", *([postgresql_url] if postgresql_url else [])]
        command = [sys.executable, str(INPROCESS), "costs", "--seconds", str(COST_SECONDS)]
        command += [part for url in urls for part in ("--database-url", url)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
    sample: Sample = {}
    clock = CpuClock.now()
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, our own script
            command,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.duration + 120,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.SubprocessError, ValueError, IndexError) as exc:
        stderr = getattr(exc, "stderr", "") or ""
        (folder / "stderr.txt").write_text(stderr)
        print(f"    FAILED: {exc}; see {folder / 'stderr.txt'}", flush=True)
        incidents.append(f"{server.label}: {exc} (see {folder / 'stderr.txt'})")
        figures = {}
    if server.kind == "argon2" and figures:
        sample["ceiling_rps"] = figures["verifications_per_s"]
        sample["ceiling_threads"] = figures["threads"]
        notes.setdefault("ceiling parameters", f"argon2id {figures['parameters']}")
        print(
            f"    argon2id        {num(sample['ceiling_rps'])} verifications/s in"
            f" {figures['threads']} threads ({figures['parameters']})",
            flush=True,
        )
    elif figures:
        for database, micros in figures["rotation_us"].items():
            sample[f"rotation_{database}_us"] = micros
        for algorithm, micros in figures["signing_us"].items():
            sample[f"sign_{algorithm}_us"] = micros
        print(
            "    in-process      "
            + ", ".join(
                f"Service.refresh on {k} {num(v)} µs" for k, v in figures["rotation_us"].items()
            )
            + "; issuing a token "
            + ", ".join(f"{k} {num(v)} µs" for k, v in figures["signing_us"].items()),
            flush=True,
        )
    end = CpuClock.now()
    sample["others_cpu"], sample["steal_cpu"] = end.others_since(clock), end.steal_since(clock)
    return sample


# --- main ---------------------------------------------------------------------------------


def ensure_node_modules() -> None:
    if (EXPRESS_DIR / "node_modules" / "bcrypt").is_dir():
        return
    print("installing the Express peer's npm dependencies (npm ci)...", flush=True)
    subprocess.run(  # noqa: S603 - npm by absolute path, on our own lockfile
        [tool("npm"), "ci", "--no-audit", "--no-fund", "--prefix", str(EXPRESS_DIR)],
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
        f" more than 15%% of the CPU busy (default 30, at most {QUIET_BUDGET:.0f} in all;"
        " 0 never waits)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        metavar="RESULTS_JSON",
        help="measure nothing: write the report and chart again from a run's results.json"
        " (kept in its scratch folder)",
    )
    args = parser.parse_args()
    if args.from_json:
        rewrite(args.from_json)
        return
    if args.rounds < 1 or args.duration < 1 or args.workers < 1:
        parser.error("--rounds, --duration and --workers must be at least 1")
    servers = choose(args)
    notes: dict[str, str] = {"command": shlex.join(["bench/http/run.py", *sys.argv[1:]])}
    tool("wrk")
    if any(s.kind == "express" for s in servers):
        ensure_node_modules()

    scratch = Path(tempfile.mkdtemp(prefix="authgate-http-bench-"))
    print(f"scratch folder (server logs, raw wrk output): {scratch}", flush=True)
    incidents: list[str] = []
    postgres = PostgresCluster()
    if any(s.postgresql or s.kind == "costs" for s in servers):
        if postgres.start():
            notes["postgresql"] = postgres.note
        else:
            print(f"{postgres.problem}: leaving PostgreSQL out", flush=True)
            incidents.append(f"every round: {postgres.problem}; PostgreSQL left out")
            servers = [s for s in servers if not s.postgresql]
    results: dict[str, list[Sample]] = {s.key: [] for s in servers}
    quiet_spent = 0.0
    started = time.monotonic()
    try:
        for round_no in range(args.rounds):
            shift = round_no % len(servers)
            for server in servers[shift:] + servers[:shift]:
                print(f"[round {round_no + 1}/{args.rounds}] {server.label}", flush=True)
                spent = time.monotonic()
                wait_for_quiet(min(args.quiet_wait, max(0.0, QUIET_BUDGET - quiet_spent)))
                quiet_spent += time.monotonic() - spent
                if server.kind in ("authgate", "costs"):
                    notes[f"source r{round_no + 1}"] = source_state()
                folder = scratch / f"r{round_no + 1}-{server.key}"
                database = f"r{round_no + 1}_{server.key}".replace("-", "_")
                found = len(incidents)
                try:
                    if not server.http:
                        pg_url = postgres.database(database) if postgres.cluster else None
                        sample = measure_inprocess(server, args, folder, notes, incidents, pg_url)
                    elif server.postgresql:
                        url = postgres.database(database)
                        sample = measure(server, args, folder, notes, incidents, url, postgres.cpu)
                    else:
                        sample = measure(server, args, folder, notes, incidents)
                except Exception as exc:  # e.g. the database could not be made
                    print(f"    FAILED: {exc}", flush=True)
                    incidents.append(f"{server.label}: {exc}")
                    sample = {}
                results[server.key].append(sample)
                for index in range(found, len(incidents)):
                    incidents[index] = f"round {round_no + 1}, {incidents[index]}"
    finally:
        postgres.stop()
    elapsed = time.monotonic() - started
    kept = {
        "rounds": args.rounds,
        "duration": args.duration,
        "servers": [s.key for s in servers],
        "workers": args.workers,
        "results": results,
        "notes": notes,
        "incidents": incidents,
        "elapsed": elapsed,
    }
    (scratch / "results.json").write_text(json.dumps(kept, indent=1))
    write(results, servers, argparse.Namespace(**kept), notes, incidents, elapsed)
    print(f"raw figures: {scratch / 'results.json'} (--from-json writes the report again)")


def write(
    results: dict[str, list[Sample]],
    servers: list[Server],
    args: argparse.Namespace,
    notes: dict[str, str],
    incidents: list[str],
    elapsed: float,
) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    text = report(results, servers, args, notes, incidents, elapsed)
    (RESULTS / "http.md").write_text(text)
    chart(results, servers, args)
    print()
    print(text)
    print(f"wrote {RESULTS / 'http.md'} and {RESULTS / 'http.png'}")


def rewrite(path: Path) -> None:
    """The report and chart of an earlier run, from the results.json it left."""
    kept = json.loads(path.read_text())
    known = {s.key: s for s in [*ALL_SERVERS, multi_worker(kept["workers"])]}
    servers = [known[key] for key in kept["servers"]]
    args = argparse.Namespace(**kept)
    write(kept["results"], servers, args, kept["notes"], kept["incidents"], kept["elapsed"])


if __name__ == "__main__":
    main()
