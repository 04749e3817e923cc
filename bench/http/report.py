"""bench/http/run.py's report and chart: medians over rounds, per-round ratios, targets.

A sample is one subject's figures in one round (Sample, keyed as run.py writes them:
`<step>_rps`, `<step>_p99_ms`, `<step>_cpu_us`, `rss_idle_mib`...). Ratios are taken
round by round, subject against reference as measured in that round, and the report gives
their median.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from harness import (
    WRK_TIMEOUT,
    WRK_TIMEOUT_MS,
    machine,
    median,
    ms,
    noise_line,
    num,
    package_version,
    pct,
    ratio,
    table,
    times,
    tool_version,
)
from lineup import (
    ARGON2,
    AUTHGATE,
    CHAINS,
    COSTS,
    EXPRESS_DIR,
    FLOOD,
    GENEROUS,
    NAN,
    OWASP_ARGON2,
    PEERS,
    PLAIN,
    POSTGRESQL,
    RESULTS,
    SESSIONS,
    Server,
)

Sample = dict[str, float]
Results = dict[str, list[Sample]]

TOKEN_SQLITE = 800.0  # POST /token rotations/s, one instance, 16 chains
TOKEN_POSTGRESQL = 600.0


# --- statistics and formatting ------------------------------------------------------------


def _count(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.0f}"


def _share(value: float) -> str:
    """A percentage with one decimal, for the targets: 49.7% must not read as a met 50%."""
    return "n/a" if math.isnan(value) else f"{value * 100:.1f}%"


def combined(samples: Sequence[Sample], key: str) -> float:
    values = [s.get(key, NAN) for s in samples]
    if key.endswith(("_errors", "_timeouts")):
        real = [v for v in values if not math.isnan(v)]
        return float(sum(real)) if real else NAN
    return median(values)


def per_round_ratio(
    mine: Sequence[Sample], theirs: Sequence[Sample], key: str, their_key: str | None = None
) -> float:
    """The median over rounds of mine[key] ÷ theirs[their_key or key], round by round."""
    return median(
        [
            ratio(a.get(key, NAN), b.get(their_key or key, NAN), over_zero=math.inf)
            for a, b in zip(mine, theirs, strict=True)
        ]
    )


def has(results: Results, server: Server, key: str) -> bool:
    return any(not math.isnan(s.get(key, NAN)) for s in results.get(server.key, []))


# --- what the report shows ----------------------------------------------------------------

Column = tuple[str, str, Callable[[float], str]]

GET_ROUTES = (
    ("test", "GET /test"),
    ("me", "GET /me"),
    ("sessions", f"GET /sessions ({SESSIONS} sessions)"),
    ("constant", "GET /constant (unguarded)"),
)

SCENARIOS: list[tuple[str, list[Column]]] = [
    (
        f"GET /test during a {FLOOD}-way sign-in flood (`wrk -t1 -c64` on /test while "
        f"`wrk -t1 -c{FLOOD}` signs in)",
        [
            ("flood_test_rps", "/test req/s", num),
            ("flood_test_p99_ms", "/test p99 ms", ms),
            ("flood_retention", "share of unloaded req/s", pct),
            ("flood_test_errors", "/test errors (all rounds)", _count),
            ("flood_test_timeouts", "of which timeouts", _count),
            ("flood_signin_rps", "sign-ins/s meanwhile", num),
        ],
    ),
    (
        f"POST /sign-in throughput (`wrk -t2 -c{FLOOD}`, one user, right password)",
        [
            ("signin_rps", "sign-ins/s (200 only)", num),
            ("signin_p50_ms", "p50 ms", ms),
            ("signin_p99_ms", "p99 ms", ms),
            ("signin_errors", "errors (all rounds)", _count),
            ("signin_cpu_us", "server CPU µs/sign-in", num),
        ],
    ),
    (
        f"POST /token (`wrk -t{CHAINS} -c{CHAINS}`, one refresh-token chain per connection)",
        [
            ("token_rps", "/token/s (200 only)", num),
            ("token_p99_ms", "p99 ms", ms),
            ("token_errors", "errors (all rounds)", _count),
            ("token_cpu_us", "server CPU µs/call", num),
            ("token_db_cpu_us", "PostgreSQL CPU µs/call", num),
        ],
    ),
    (
        "Server memory (VmRSS of the server process and its children)",
        [
            ("rss_idle_mib", "idle MiB (after start + 1 request)", num),
            ("rss_peak_mib", "peak MiB (sampled every 0.2 s)", num),
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
    short: str  # for the chart
    value: float
    shown: str
    met: bool | None  # None: a subject it needs was not run, or gave no figure
    score: float = NAN  # how far past the bar: >= 1 is met (for the chart)


def targets(results: Results) -> list[Target]:
    mine = results.get("authgate")
    if mine is None:
        return []

    def against(
        reference: str,
        key: str,
        bar: float,
        text: str,
        short: str,
        *,
        their_key: str | None = None,
        lower_is_better: bool = False,
        sample: Sequence[Sample] = mine,
    ) -> Target:
        if reference not in results:
            return Target(text, short, NAN, f"n/a ({reference} not run)", None)
        value = per_round_ratio(sample, results[reference], key, their_key)
        if math.isnan(value):
            return Target(text, short, value, "n/a", None)
        score = (
            ratio(bar, value, over_zero=math.inf)
            if lower_is_better
            else ratio(value, bar, over_zero=math.inf)
        )
        mine_value = median([s.get(key, NAN) for s in sample])
        theirs = median([s.get(their_key or key, NAN) for s in results[reference]])
        shown = f"{num(mine_value)} vs {num(theirs)}: **{times(value)}**"
        if bar < 1 and not lower_is_better:
            shown = f"{num(mine_value)} vs {num(theirs)}: **{_share(value)}**"
        return Target(text, short, value, shown, score >= 1, score)

    def absolute(key: str, subject: str, bar: float, text: str, short: str) -> Target:
        if subject not in results:
            return Target(text, short, NAN, f"n/a ({subject} not run)", None)
        value = median([s.get(key, NAN) for s in results[subject]])
        if math.isnan(value):
            return Target(text, short, value, "n/a", None)
        score = value / bar
        return Target(
            text, short, value, f"**{num(value)}/s** ({times(score)} the bar)", score >= 1, score
        )

    retention = median([s.get("flood_retention", NAN) for s in mine])
    return [
        against(
            "express-keyobject",
            "test_rps",
            3,
            "GET /test req/s >= 3x Express (KeyObject)",
            "GET /test ÷ Express (KeyObject), bar 3x",
        ),
        against(
            "express-keyobject",
            "test_p99_ms",
            1,
            "GET /test p99 no worse than Express (KeyObject) (ratio <= 1)",
            "GET /test p99 ÷ Express (KeyObject), bar <= 1x",
            lower_is_better=True,
        ),
        against(
            "plain",
            "me_rps",
            0.5,
            "GET /me req/s >= 50% of a plain FastAPI app's unguarded constant route",
            "GET /me ÷ plain FastAPI constant, bar 50%",
            their_key="constant_rps",
        ),
        against(
            "plain",
            "sessions_rps",
            0.3,
            f"GET /sessions ({SESSIONS} sessions) req/s >= 30% of the plain FastAPI route's",
            "GET /sessions ÷ plain FastAPI constant, bar 30%",
            their_key="constant_rps",
        ),
        absolute(
            "token_rps",
            "authgate",
            TOKEN_SQLITE,
            f"POST /token >= {TOKEN_SQLITE:,.0f} rotations/s on SQLite ({CHAINS} chains)",
            f"POST /token on SQLite, bar {TOKEN_SQLITE:,.0f}/s",
        ),
        absolute(
            "token_rps",
            "authgate-postgresql",
            TOKEN_POSTGRESQL,
            f"POST /token >= {TOKEN_POSTGRESQL:,.0f} rotations/s on PostgreSQL ({CHAINS} chains)",
            f"POST /token on PostgreSQL, bar {TOKEN_POSTGRESQL:,.0f}/s",
        ),
        against(
            "argon2",
            "signin_rps",
            0.9,
            f"sign-ins/s (c={FLOOD}) >= 90% of argon2-cffi's own verifications/s"
            " (same parameters, same threads)",
            "sign-ins/s ÷ argon2id ceiling, bar 90%",
            their_key="ceiling_rps",
        ),
        Target(
            "GET /test under the sign-in flood keeps >= 50% of its unloaded req/s",
            "GET /test under flood ÷ unloaded, bar 50%",
            retention,
            f"**{_share(retention)}**",
            None if math.isnan(retention) else retention >= 0.5,
            retention / 0.5,
        ),
        against(
            "express",
            "signin_rps",
            1,
            "sign-ins/s >= the tutorial Express app's (bcrypt cost 10)",
            "sign-ins/s ÷ Express (bcrypt 10), bar 1x",
        ),
        against(
            "express",
            "rss_idle_mib",
            1,
            "RSS at idle no more than the Express app's (ratio <= 1)",
            "RSS idle ÷ Express, bar <= 1x",
            lower_is_better=True,
        ),
    ]


# --- the text -----------------------------------------------------------------------------


def versions(notes: dict[str, str]) -> list[str]:
    def node_version(package: str) -> str:
        lock = EXPRESS_DIR / "node_modules" / package / "package.json"
        match = re.search(r'"version"\s*:\s*"([^"]+)"', lock.read_text()) if lock.exists() else None
        return match.group(1) if match else "?"

    lines = [
        f"- Machine: {machine()}; wrk and the server share these cores over loopback, so every"
        " figure includes the client's own CPU use.",
        "- authgate: 1 uvicorn worker unless labelled otherwise; RS256 unless labelled"
        " otherwise; generous throttles (AUTHGATE_THROTTLE_* = "
        f"{GENEROUS}); fresh SQLite file (or PostgreSQL database) per round.",
        f"- Node {tool_version('node', '--version')}: express {node_version('express')},"
        f" jsonwebtoken {node_version('jsonwebtoken')}, bcrypt {node_version('bcrypt')}"
        " (native, cost 10); one process.",
        f"- Python {platform.python_version()}: fastapi {package_version('fastapi')},"
        f" uvicorn {package_version('uvicorn')} (uvloop {package_version('uvloop')},"
        f" httptools {package_version('httptools')}), PyJWT {package_version('PyJWT')},"
        f" bcrypt {package_version('bcrypt')}, argon2-cffi {package_version('argon2-cffi')}.",
        f"- {tool_version('wrk', '-v')}; wrk --timeout {WRK_TIMEOUT} (slower answers count as"
        " timeouts and are not in the percentiles).",
    ]
    if "postgresql" in notes:
        lines.append(f"- {notes['postgresql']}")
    return lines


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


def get_routes(results: Results, servers: Sequence[Server]) -> list[str]:
    """One row per server and GET route, against the plain FastAPI route of the same round."""
    plain = results.get(PLAIN.key)
    rows = []
    for server in servers:
        for step, route in GET_ROUTES:
            if not has(results, server, f"{step}_rps"):
                continue
            samples = results[server.key]
            share = per_round_ratio(samples, plain, f"{step}_rps", "constant_rps") if plain else NAN
            rows.append(
                [
                    server.label,
                    route,
                    num(combined(samples, f"{step}_rps")),
                    ms(combined(samples, f"{step}_p50_ms")),
                    ms(combined(samples, f"{step}_p99_ms")),
                    _count(combined(samples, f"{step}_errors")),
                    num(combined(samples, f"{step}_cpu_us")),
                    pct(share),
                ]
            )
    if not rows:
        return []
    return [
        "## GET routes, unloaded (`wrk -t2 -c64`, the Bearer token of a user with"
        f" {SESSIONS} sessions)",
        "",
        *table(
            [
                "server",
                "route",
                "req/s",
                "p50 ms",
                "p99 ms",
                "errors (all rounds)",
                "server CPU µs/req",
                "÷ plain FastAPI constant",
            ],
            rows,
        ),
    ]


def ceiling_lines(results: Results, notes: dict[str, str]) -> list[str]:
    if ARGON2.key not in results:
        return []
    rate = combined(results[ARGON2.key], "ceiling_rps")
    threads = combined(results[ARGON2.key], "ceiling_threads")
    per_round = " / ".join(num(s.get("ceiling_rps", NAN)) for s in results[ARGON2.key])
    lines = [
        f"The argon2id ceiling: argon2-cffi alone verifying one hash with authgate's parameters"
        f" ({notes.get('ceiling parameters', '?')}) in {_count(threads)} threads (the server's"
        f" default hashing pool, AUTHGATE_HASHING_WORKERS) for the scenario's duration, on the"
        f" same cores, no HTTP: **{num(rate)} verifications/s** (per round: {per_round}).",
    ]
    for server in (AUTHGATE,):
        if has(results, server, "signin_rps"):
            share = per_round_ratio(
                results[server.key], results[ARGON2.key], "signin_rps", "ceiling_rps"
            )
            lines[0] += f" {server.label} signs in at {pct(share)} of it."
    return [*lines, ""]


def costs_lines(results: Results) -> list[str]:
    """What one rotation costs: server CPU over HTTP, Service.refresh, signing alone."""
    costs = results.get(COSTS.key)
    if not costs:
        return []

    def cost(key: str) -> float:
        return combined(costs, key)

    def http(server: Server, key: str) -> float:
        return combined(results[server.key], key) if server.key in results else NAN

    sign = cost("sign_RS256_us")
    columns = [("SQLite", AUTHGATE, "sqlite"), ("PostgreSQL", POSTGRESQL, "postgresql")]
    rows = [
        [
            "POST /token over HTTP: the server process's CPU per rotation",
            *[num(http(s, "token_cpu_us")) for _, s, _ in columns],
        ],
        [
            "… plus PostgreSQL's own CPU per rotation",
            "-",
            num(http(POSTGRESQL, "token_db_cpu_us")),
        ],
        [
            "`Service.refresh` in-process, one chain (no HTTP, no pools)",
            *[num(cost(f"rotation_{db}_us")) for _, _, db in columns],
        ],
        ["… of which issuing the access token (RS256 signature)", num(sign), num(sign)],
        [
            "… the rest: store reads and writes, rotation, bookkeeping",
            *[num(cost(f"rotation_{db}_us") - sign) for _, _, db in columns],
        ],
        [
            "HTTP, JSON, pools, event loop, 16 chains at once (server CPU minus in-process)",
            *[num(http(s, "token_cpu_us") - cost(f"rotation_{db}_us")) for _, s, db in columns],
        ],
    ]
    lines = [
        "## What one rotation costs (µs, medians over rounds)",
        "",
        *table(["part", *[name for name, _, _ in columns]], rows),
    ]
    signing_rows = []
    for alg, server_key in (
        ("RS256", AUTHGATE.key),
        ("ES256", "authgate-es256"),
        ("EdDSA", "authgate-eddsa"),
    ):
        samples = results.get(server_key, [])
        signing_rows.append(
            [
                alg,
                num(cost(f"sign_{alg}_us")),
                num(combined(samples, "token_rps")) if samples else "not run",
                num(combined(samples, "token_cpu_us")) if samples else "not run",
            ]
        )
    lines += table(
        [
            "algorithm",
            "issuing one access token in-process, µs",
            "POST /token/s (SQLite)",
            "server CPU µs/rotation",
        ],
        signing_rows,
    )
    lines += [
        "Server CPU per call is the server process's CPU time (user + system) during the wrk"
        " run divided by the calls answered; PostgreSQL's backends are counted apart. The"
        " in-process figures come from `bench/http/inprocess.py costs` (a separate process,"
        " one refresh-token chain, argon2 out of the way).",
        "",
    ]
    return lines


def report(
    results: Results,
    servers: Sequence[Server],
    args: argparse.Namespace,
    notes: dict[str, str],
    incidents: Sequence[str],
    elapsed: float,
) -> str:
    command = ".venv/bin/python " + notes.get("command", "bench/http/run.py")

    def everything(key: str) -> list[float]:
        return [
            v for rounds in results.values() for s in rounds if not math.isnan(v := s.get(key, NAN))
        ]

    http = [s for s in servers if s.http]
    lines = [
        "# HTTP benchmark: authgate and the servers users compare it with",
        "",
        f"`{command}` — {args.rounds} round(s) of {args.duration} s per scenario, every server"
        " measured in every round (order rotated each round); figures are medians over"
        f" rounds. Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, took {elapsed / 60:.1f} min.",
        "",
        *versions(notes),
        *sources(notes),
        f"- Password hash authgate stored: {notes.get('password hash', 'not checked')}"
        f" (OWASP argon2id: {OWASP_ARGON2}).",
        noise_line("server", everything("others_cpu"), everything("steal_cpu")),
        "",
    ]
    if incidents:
        lines += ["**Incidents** (those rounds lack some figures for that server):", ""]
        lines += [f"- {incident}" for incident in incidents]
        lines += [""]

    goals = targets(results)
    if goals:
        lines += [
            "## Targets (one authgate process; ratios against references measured in the same"
            " rounds)",
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

    lines += get_routes(results, http)
    for title, columns in SCENARIOS:
        shown = [s for s in http if has(results, s, columns[0][0])]
        if not shown:
            continue
        columns = [c for c in columns if any(has(results, s, c[0]) for s in shown)]
        lines += [f"## {title}", ""]
        rows = [
            [server.label, *[fmt(combined(results[server.key], key)) for key, _, fmt in columns]]
            for server in shown
        ]
        if title.startswith("POST /token"):
            lines += table(
                ["server", *[name for _, name, _ in columns], "rotates?"],
                [
                    [*row, "yes" if server.rotates else "no (the tutorial reuses the token)"]
                    for row, server in zip(rows, shown, strict=True)
                ],
            )
            lines += costs_lines(results)
        elif title.startswith("POST /sign-in"):
            lines += table(["server", *[name for _, name, _ in columns]], rows)
            lines += ceiling_lines(results, notes)
        else:
            lines += table(["server", *[name for _, name, _ in columns]], rows)

    peers = [p for p in PEERS if p.key in results]
    for mine in [s for s in servers if s.key in ("authgate", "authgate-workers")]:
        if not peers:
            break
        lines += [
            f"## Ratios: {mine.label} ÷ each tutorial peer (median of per-round ratios)",
            "",
            *table(
                ["metric", *[f"÷ {p.label}" for p in peers]],
                [
                    [
                        name,
                        *[
                            times(per_round_ratio(results[mine.key], results[p.key], key))
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

    lines += ["## Per round", ""]
    keys: list[Column] = [
        ("test_rps", "/test req/s", num),
        ("me_rps", "/me req/s", num),
        ("sessions_rps", "/sessions req/s", num),
        ("constant_rps", "/constant req/s", num),
        ("flood_retention", "share kept under flood", pct),
        ("signin_rps", "sign-in/s", num),
        ("ceiling_rps", "argon2 verifications/s", num),
        ("token_rps", "/token/s", num),
        ("rotation_sqlite_us", "Service.refresh µs (SQLite)", num),
        ("rss_idle_mib", "RSS idle MiB", num),
        ("others_cpu", "others' CPU", pct),
        ("steal_cpu", "host steal", pct),
    ]
    keys = [k for k in keys if any(has(results, s, k[0]) for s in servers)]
    lines += table(
        ["server", *[name for _, name, _ in keys]],
        [
            [
                server.label,
                *[
                    " / ".join(fmt(s.get(key, NAN)) for s in results[server.key])
                    if has(results, server, key)
                    else "-"
                    for key, _, fmt in keys
                ],
            ]
            for server in servers
        ],
    )
    lines += [
        "Notes:",
        "",
        "- A request counts only when answered 200 (sign-in, /token) or below 400 (GET"
        " routes). Errors are the answers that do not count plus socket errors and timeouts;"
        f" wrk counts a request still unanswered after {WRK_TIMEOUT} as a timeout.",
        f"- A latency of '> {WRK_TIMEOUT_MS:,}' means too many requests outlasted the wrk timeout"
        " to place that percentile; n/a means nothing was answered or timed out in that window.",
        "- The plain FastAPI app (bench/peers/plain_fastapi.py) runs under the settings"
        " `authgate serve` uses (uvicorn, 1 worker, httptools, uvloop, no access log) and"
        " answers a constant with no token and no database: the ceiling for a guarded route.",
        "- POST /token on authgate rotates the refresh token on every call, each connection"
        " following its own chain; the tutorial and the naive port hand back an access token"
        " for the same, never-rotated refresh token, which is less work.",
        '- Per-round cells are in round order. "Others\' CPU" is the share of the machine used'
        " by processes other than this script, its wrk runs and the server under test while"
        " that server was measured (PostgreSQL's CPU is left out: it works for the server"
        " under test); before each server the script waits (a little) for it to fall below"
        " 15%.",
        "- Server stdout (uvicorn's access log, if on) goes to /dev/null; stderr to a log file.",
        "",
    ]
    return "\n".join(lines)


# --- the chart ----------------------------------------------------------------------------


def chart(results: Results, servers: Sequence[Server], args: argparse.Namespace) -> None:
    """Left: authgate and the tutorial peers side by side. Right: each target's margin."""
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
    shown = [s for s in servers if s.key in colours and s.key in results]
    goals = [g for g in targets(results) if not math.isnan(g.score)]
    figure, (axes, margins) = plt.subplots(
        1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1.4, 1]}
    )
    width = 0.8 / max(len(shown), 1)
    floor = 0.1  # zero cannot sit on a log axis; such bars are drawn at the floor
    for index, server in enumerate(shown):
        values = [combined(results[server.key], key) for key, _ in groups]
        positions = [g + (index - (len(shown) - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v > floor else floor for v in [0.0 if math.isnan(v) else v for v in values]]
        bars = axes.bar(
            positions,
            heights,
            width * 0.92,
            label=server.label,
            color=colours[server.key],
            hatch="//" if server.key == "authgate-workers" else None,
        )
        for bar, value in zip(bars, values, strict=True):
            axes.annotate(
                "0" if value == 0 else num(value),
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                rotation=90 if len(shown) > 4 else 0,
            )
    axes.set_yscale("log")
    axes.set_ylim(floor, axes.get_ylim()[1] * 3)
    axes.set_xticks(range(len(groups)), [name for _, name in groups], fontsize=8)
    axes.set_ylabel("per second (log scale; 200 answers only)")
    axes.set_title("authgate and the tutorial's peers", fontsize=10)
    if shown:
        axes.legend(fontsize=8, loc="upper right")
    axes.grid(axis="y", which="major", alpha=0.3)

    scores = [g.score for g in goals]
    places = list(range(len(goals)))[::-1]
    margins.barh(
        places,
        scores,
        color=["#2a9d8f" if g.met else "#e76f51" for g in goals],
    )
    for position, goal in zip(places, goals, strict=True):
        margins.annotate(
            goal.shown.replace("**", "").split(": ")[-1],
            (goal.score, position),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
        )
    margins.axvline(1, color="#333333", linewidth=1)
    margins.set_xscale("log")
    if scores:
        margins.set_xlim(min(min(scores) / 2, 0.5), max(max(scores) * 4, 2))
    margins.set_yticks(places, [g.short for g in goals], fontsize=8)
    margins.set_xlabel("measured ÷ bar (log scale; right of the line: met)")
    margins.set_title("targets, against references measured in the same rounds", fontsize=10)
    figure.suptitle(
        f"authgate benchmark: medians of {args.rounds} round(s) x {args.duration} s, "
        f"{os.cpu_count()} cores shared by wrk and the server",
        fontsize=11,
    )
    figure.tight_layout()
    figure.savefig(RESULTS / "http.png", dpi=130)
    plt.close(figure)
