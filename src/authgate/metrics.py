"""Prometheus metrics: what operators watch on an authentication service.

Each Service has its own registry (tests build many), served at GET /metrics. The
security events come from the audit log as it is written, so a counter and the audit
row can never disagree; the rest is counted where it happens. Labels are closed sets
(outcomes, rules, event kinds): never an e-mail, an IP or a token.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from authgate.core.store import AuditEvent

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Verification of a token not yet cached: tens of microseconds for RS256 here.
VERIFY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
)  # fmt: skip
SIGN_IN_OUTCOMES = {"sign_in": "success", "sign_in_failed": "invalid_credentials"}


class Metrics:
    """The instruments, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.sign_ins = Counter(
            "authgate_sign_ins", "Sign-in attempts by outcome.", ["outcome"], registry=r
        )
        self.sign_ups = Counter("authgate_sign_ups", "Accounts created.", registry=r)
        self.refreshes = Counter(
            "authgate_refreshes",
            "POST /token calls by outcome: rotated, reused (theft detected), ended.",
            ["outcome"],
            registry=r,
        )
        self.security_events = Counter(
            "authgate_security_events",
            "Audit-log events by kind (the audit log holds who and when).",
            ["kind"],
            registry=r,
        )
        self.breached_passwords = Counter(
            "authgate_breached_password_checks",
            "New passwords asked of AUTHGATE_BREACHED_PASSWORDS_URL, by outcome: breached, "
            "clean, unavailable (the offline lists decided).",
            ["outcome"],
            registry=r,
        )
        self.throttled = Counter(
            "authgate_throttled", "Requests refused by a throttle, by rule.", ["rule"], registry=r
        )
        self.verify_seconds = Histogram(
            "authgate_token_verify_seconds",
            "Time to verify an access token not yet in the guard's cache.",
            buckets=VERIFY_BUCKETS,
            registry=r,
        )
        self.hashing_queue = Gauge(
            "authgate_hashing_queue_depth",
            "Password hashes running or waiting in the hashing pool.",
            registry=r,
        )
        self.revocations = Gauge(
            "authgate_revocations_in_memory",
            "Revoked sessions and users' valid-after instants this process holds.",
            registry=r,
        )
        self.mail = Counter(
            "authgate_mail",
            "Outbox deliveries by outcome: sent, retried (failed, to try again), dead (given up).",
            ["outcome"],
            registry=r,
        )
        for outcome in ("sent", "retried", "dead"):
            self.mail.labels(outcome)
        for outcome in ("success", "invalid_credentials"):
            self.sign_ins.labels(outcome)
        for outcome in ("rotated", "reused", "ended"):
            self.refreshes.labels(outcome)

    def record(self, event: AuditEvent) -> None:
        """Count an audit event (Service passes every one it records)."""
        self.security_events.labels(event.kind).inc()
        if event.kind in SIGN_IN_OUTCOMES:
            self.sign_ins.labels(SIGN_IN_OUTCOMES[event.kind]).inc()
        elif event.kind == "sign_up":
            self.sign_ups.inc()

    def watch(self, gauge: Gauge, read: Callable[[], float]) -> None:
        """Let `gauge` read its value when scraped."""
        gauge.set_function(read)

    def exposition(self) -> bytes:
        """The text format Prometheus scrapes."""
        return generate_latest(self.registry)
