"""What bench/http/run.py, bench/adapters/run.py and bench/scale.py share: server processes,
CPU clocks, wrk runs, and the numbers, tables and lines of their reports.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
WRK_SCRIPTS = ROOT / "bench" / "http"  # report.lua, and the scripts that end in its line
WRK_TIMEOUT = "5s"  # wrk counts slower answers as timeouts and leaves them out of p99
WRK_TIMEOUT_MS = int(WRK_TIMEOUT.removesuffix("s")) * 1000
NAN = math.nan


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{sys.argv[0]}: `{name}` is not on PATH")
    return path


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (uvicorn or gunicorn workers, helper processes)."""
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


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process and its descendants have used so far, with
    the children each has waited for (PostgreSQL's ended backends, say)."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(n) for n in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until the server answers `url` at all (401 without a token will do)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with status {process.returncode}")
        try:
            httpx.get(url, timeout=2)
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


@dataclass(frozen=True)
class CpuClock:
    """Machine-wide busy and steal time, and the CPU time of this script and its reaped
    children."""

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

    def _capacity(self, start: CpuClock) -> float:
        return (self.wall - start.wall) * (os.cpu_count() or 1)

    def others_since(self, start: CpuClock, running: float = 0.0) -> float:
        """The share of the machine (0..1) other processes used since `start`; `running`
        is the CPU time of processes working for us meanwhile that this script has not
        reaped (its servers, their database)."""
        capacity = self._capacity(start)
        others = (self.busy - start.busy) - (self.ours - start.ours) - running
        return max(others, 0.0) / capacity if capacity > 0 else NAN

    def steal_since(self, start: CpuClock) -> float:
        """The share of the machine (0..1) the host stole since `start`."""
        capacity = self._capacity(start)
        return (self.steal - start.steal) / capacity if capacity > 0 else NAN


def wait_for_quiet(budget: float, threshold: float = 0.15) -> float:
    """Between measurements nothing of ours runs: wait (up to `budget` s) while other
    processes keep the CPU busy.

    Returns the share of the machine other processes used in the last one-second look.
    """
    deadline = time.monotonic() + budget
    while True:
        start = CpuClock.now()
        time.sleep(1)
        others = CpuClock.now().others_since(start)
        if others < threshold or time.monotonic() >= deadline:
            return others
        print(f"    waiting for a quieter machine: other processes use {pct(others)}", flush=True)
        time.sleep(4)


def source_state() -> str:
    """The commit plus a digest of src/ as it is on disk (it may change between rounds)."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "src").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    commit = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(  # noqa: S603 - git, by absolute path
            [tool("git"), "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    return f"{commit} (src sha256 {digest.hexdigest()[:10]})"


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
    """wrk with one of bench/http's Lua scripts, each printing report.lua's line at the end."""
    return [
        tool("wrk"),
        *[part for header in headers for part in ("-H", header)],
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(WRK_SCRIPTS / script),
        url,
    ]


def start_wrk(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    shown = [
        part.split(":", 1)[0] + ": …" if previous == "-H" else part  # no token in logs
        for previous, part in zip(["", *command], command, strict=False)
    ]
    with log.open("w") as out:
        out.write(" ".join(shown) + "\n\n")
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


# --- numbers ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return statistics.median(real) if real else NAN


def ratio(numerator: float, denominator: float, *, over_zero: float = NAN) -> float:
    """numerator ÷ denominator: NaN if either is NaN or both are 0, `over_zero` for more
    than 0 over 0 (bench/http shows it as ∞; bench/adapters as n/a, so a broken reference
    never reads as a met target)."""
    if math.isnan(numerator) or math.isnan(denominator):
        return NAN
    if denominator == 0:
        return over_zero if numerator > 0 else NAN
    return numerator / denominator


def num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ms(value: float) -> str:
    """A latency in ms: inf (beyond the wrk timeout) reads as '> 5,000'."""
    return f"> {WRK_TIMEOUT_MS:,}" if math.isinf(value) else num(value)


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.0f}%"


def times(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞"
    return f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# --- what the reports say about the run ---------------------------------------------------


def machine() -> str:
    """Cores, CPU model and kernel, e.g. '2 cores (AMD EPYC 7B13), Linux 6.1.0'."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}"


def package_version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def tool_version(name: str, *arguments: str) -> str:
    """The first line a tool prints when asked for its version, or '?'."""
    try:
        done = subprocess.run(  # noqa: S603 - a tool by absolute path
            [tool(name), *arguments], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "?"
    lines = done.stdout.strip().splitlines()
    return lines[0] if lines else "?"


def noise_line(subject: str, others: Sequence[float], steal: Sequence[float] | None = None) -> str:
    """The report line on what other processes (and the host) took of the CPUs while each
    `subject` was measured, from the per-round shares."""
    line = (
        f"- Machine noise: while each {subject} was measured, other processes on this machine"
        f" used a median {pct(median(others))} (max {pct(max(others, default=NAN))}) of its"
        " CPU time"
    )
    if steal is not None:
        line += f" and the host stole {pct(median(steal))} (max {pct(max(steal, default=NAN))})"
    return line + "; see the per-round table."
