"""Prometheus metrics of one server process, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from .domain.events import (
    Event,
    RangeRecorded,
    RangeRejected,
    ReaperRan,
    SessionAborted,
    SessionCreated,
    SessionExpired,
    SessionFinished,
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
STORAGE_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30)
GC_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)


class Metrics:
    """Every metric family partway exports; also the Events sink that moves the lifecycle ones."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "partway_http_requests",
            "HTTP requests served",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "partway_http_request_duration_seconds",
            "Time from request start to the end of the response",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bytes_received = Counter(
            "partway_http_received_bytes", "Request body bytes received", registry=r
        )
        self.bytes_served = Counter(
            "partway_http_served_bytes", "Response body bytes sent", registry=r
        )
        self.sessions = Counter(
            "partway_sessions", "Upload sessions by lifecycle event", ["event"], registry=r
        )
        for event in ("created", "finished", "aborted", "expired"):
            self.sessions.labels(event)
        self.parts_recorded = Counter("partway_parts_recorded", "Parts recorded", registry=r)
        self.part_bytes = Counter(
            "partway_part_recorded_bytes", "Bytes of parts recorded", registry=r
        )
        self.parts_rejected = Counter(
            "partway_parts_rejected", "Parts refused, by reason", ["reason"], registry=r
        )
        self.open_sessions = Gauge("partway_open_sessions", "Unfinished sessions", registry=r)
        self.open_bytes = Gauge(
            "partway_open_session_bytes", "Bytes held by unfinished sessions", registry=r
        )
        self.reaper_runs = Counter("partway_reaper_runs", "Reaper runs", registry=r)
        self.reaped_bytes = Counter(
            "partway_reaper_reclaimed_bytes", "Bytes of expired sessions reclaimed", registry=r
        )
        self.orphans = Counter("partway_reaper_orphans", "Orphan objects removed", registry=r)
        self.storage_latency = Histogram(
            "partway_storage_operation_duration_seconds",
            "Storage backend operations",
            ["backend", "operation"],
            buckets=STORAGE_BUCKETS,
            registry=r,
        )
        self.storage_errors = Counter(
            "partway_storage_errors",
            "Failed storage operations",
            ["backend", "operation"],
            registry=r,
        )

        self.bodies_cut = Counter(
            "partway_bodies_cut",
            "Request bodies ended before their end: idle, slow or client_gone",
            ["reason"],
            registry=r,
        )
        for reason in ("idle", "slow", "client_gone"):
            self.bodies_cut.labels(reason)
        self.refused = Counter(
            "partway_http_refused",
            "Connections and requests refused at the HTTP edge, by reason",
            ["reason"],
            registry=r,
        )
        self.open_connections = Gauge(
            "partway_http_open_connections", "Open client connections", registry=r
        )
        self.idle_connections = Gauge(
            "partway_http_idle_connections",
            "Keep-alive connections waiting for their next request",
            registry=r,
        )
        self.idle_closed = Counter(
            "partway_http_idle_closed",
            "Idle keep-alive connections closed early to make room: busy (past half the "
            "connection cap) or cap (for a new connection)",
            ["reason"],
            registry=r,
        )
        self.bodies = Gauge(
            "partway_bodies_in_flight",
            "Socket bodies: waiting for bytes, queued for a thread, or moving",
            ["state"],
            registry=r,
        )
        self.threads_limit = Gauge(
            "partway_threads_limit",
            "The most threads this process can run, whatever its load: every pool's size, the "
            "event loop, the body reactor, the SQLite writer and libuv's resolver pool",
            registry=r,
        )
        self.pool = Gauge(
            "partway_thread_pool",
            "Worker pools: body (moves bytes) and io (metadata, fsync, hashing): threads, busy "
            "or queued work",
            ["pool", "what"],
            registry=r,
        )

        # Fed by runtime.watch_collector in a serving process.
        self.gc_pauses = Histogram(
            "partway_gc_pause_seconds",
            "Passes of the cyclic garbage collector, by generation: each holds every thread",
            ["generation"],
            buckets=GC_BUCKETS,
            registry=r,
        )
        self.gc_collected = Counter(
            "partway_gc_collected_objects",
            "Objects the cyclic collector freed: left in reference cycles, they make its "
            "passes come sooner",
            ["generation"],
            registry=r,
        )
        self.request_slots = Gauge(
            "partway_request_slots",
            "Fair admission (max_active_requests): slots, requests admitted, and requests "
            "waiting in their tenants' lines",
            ["what"],
            registry=r,
        )

    async def publish(self, event: Event) -> None:
        """The metrics as an event sink."""
        match event:
            case SessionCreated() | SessionFinished() | SessionAborted():
                self.sessions.labels(event.name.partition(".")[2]).inc()
            case SessionExpired():
                self.sessions.labels("expired").inc()
                self.reaped_bytes.inc(event.bytes)
            case RangeRecorded():
                self.parts_recorded.inc()
                self.part_bytes.inc(event.bytes)
            case RangeRejected():
                self.parts_rejected.labels(event.reason).inc()
            case ReaperRan():
                self.reaper_runs.inc()
                self.orphans.inc(event.orphans)
