"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from api.limits import Admission
from core.schema import CreativeResult

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)


class ServiceMetrics:
    """Request counts and latencies, tokens, queue depth and the validity of written copy."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "adcreative_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "adcreative_request_latency_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter("adcreative_tokens", "Tokens processed by the engine.", ["kind"], registry=r)
        self.candidates = Counter(
            "adcreative_candidates",
            "Candidates written, by outcome: valid_first_try, valid_later (after repair or in a "
            "regeneration round) or rejected; valid_first_try / all is the validity rate.",
            ["outcome"],
            registry=r,
        )
        self.overloaded = Counter(
            "adcreative_overloaded_requests", "Generation requests refused with 429.", registry=r
        )
        self.cancelled = Counter(
            "adcreative_cancelled_requests", "Generations cancelled because the client left.", registry=r
        )
        self.active = Gauge("adcreative_active_generations", "Generations running now.", registry=r)
        self.queued = Gauge("adcreative_queued_generations", "Generations waiting for a slot.", registry=r)

    def watch(self, admission: Admission) -> None:
        """Report the admission's live counts as the active / queued gauges, and count its refusals."""
        self.active.set_function(lambda: admission.active)
        self.queued.set_function(lambda: admission.waiting)
        admission.on_refused = self.overloaded.inc

    def observe_result(self, result: CreativeResult) -> None:
        """Count the tokens and candidate outcomes of one written request."""
        self.tokens.labels("prompt").inc(result.usage.prompt_tokens)
        self.tokens.labels("completion").inc(result.usage.completion_tokens)
        stats = result.stats
        self.candidates.labels("valid_first_try").inc(stats.valid_first_try)
        self.candidates.labels("valid_later").inc(stats.returned - stats.valid_first_try)
        self.candidates.labels("rejected").inc(stats.rejected)

    def exposition(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
