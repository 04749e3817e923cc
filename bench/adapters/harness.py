"""The machinery of bench/adapters/run.py: server processes, wrk runs, CPU clocks, numbers.

Kept apart from the apps it measures, and from bench/http (whose harness has its own
shape), so that each benchmark can change without the other.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REPORT_LUA = Path(__file__).resolve().parent / "report.lua"
WRK_TIMEOUT = "5s"  # wrk counts slower answers as timeouts and leaves them out of p99
NAN = math.nan


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"bench/adapters: `{name}` is not on PATH")
    return path


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_tree(pid: int) -> list[int]:
    """The process and all its descendants (gunicorn's worker, say)."""
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
    """CPU seconds (user + system) a process and its descendants have used so far."""
    total = 0
    for member in process_tree(pid):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


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
    """Machine-wide busy time, and the CPU time of this script and its reaped children."""

    wall: float
    busy: float
    ours: float

    @classmethod
    def now(cls) -> CpuClock:
        ticks = os.sysconf("SC_CLK_TCK")
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        user, nice, system, _idle, _iowait, irq, softirq, _steal = fields
        mine = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return cls(
            wall=time.monotonic(),
            busy=(user + nice + system + irq + softirq) / ticks,
            ours=mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime,
        )

    def others_since(self, start: CpuClock, running: float = 0.0) -> float:
        """The share of the machine (0..1) other processes used since `start`; `running`
        is the CPU time our still-running servers used meanwhile (not yet reaped)."""
        capacity = (self.wall - start.wall) * (os.cpu_count() or 1)
        others = (self.busy - start.busy) - (self.ours - start.ours) - running
        return max(others, 0.0) / capacity if capacity > 0 else NAN


def wait_for_quiet(budget: float, threshold: float = 0.15) -> float:
    """Wait (up to `budget` s) while other processes keep the CPU busy; their last share."""
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
    """One wrk run, from the BENCH_RESULT line report.lua prints (unparsed if wrk failed)."""

    requests: int = 0
    duration: float = 0.0
    failures: int = 0  # answers over 399
    errors: int = 0  # failures plus connect, read and write errors and timeouts
    p99_ms: float = NAN
    parsed: bool = False

    @classmethod
    def parse(cls, output: str) -> WrkResult:
        match = re.search(r"^BENCH_RESULT (.*)$", output, re.MULTILINE)
        if match is None:
            return cls()
        v = {k: int(n) for k, n in re.findall(r"(\w+)=(-?\d+)", match.group(1))}
        errors = v["failures"] + v["connect"] + v["read"] + v["write"] + v["timeout"]
        slow = v["timeout"] > 0.01 * (v["requests"] + v["timeout"])
        return cls(
            requests=v["requests"],
            duration=v["duration_us"] / 1e6,
            failures=v["failures"],
            errors=errors,
            p99_ms=math.inf if slow else v["p99_us"] / 1000,
            parsed=True,
        )


def run_wrk(
    url: str, header: str, *, seconds: int, threads: int, connections: int, log: Path
) -> WrkResult:
    command = [
        *[tool("wrk"), "-H", header, f"-t{threads}", f"-c{connections}", f"-d{seconds}s"],
        *["--latency", "--timeout", WRK_TIMEOUT, "-s", str(REPORT_LUA), url],
    ]
    try:
        done = subprocess.run(  # noqa: S603 - wrk, by absolute path, on our own servers
            command, capture_output=True, text=True, timeout=seconds + 30, check=False
        )
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        output = ""
    log.write_text(" ".join(command[:1] + command[3:]) + "\n\n" + output)  # no token in logs
    result = WrkResult.parse(output)
    if not result.parsed:
        print(f"    wrk gave no result; see {log}", flush=True)
    return result


# --- numbers ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    real = [v for v in values if not math.isnan(v)]
    return statistics.median(real) if real else NAN


def ratio(numerator: float, denominator: float) -> float:
    if math.isnan(numerator) or math.isnan(denominator) or denominator == 0:
        return NAN
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


def pct(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value * 100:.0f}%"


def times(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]
