"""Event sinks: the log and the metrics, and a fan-out that keeps a failing sink from failing the
change it reports (which has committed by then)."""

from __future__ import annotations

import logging

from .domain.events import Event, EventSink, ReaperRan

log = logging.getLogger("partway.events")


class LogSink:
    async def publish(self, event: Event) -> None:
        # A reaper run that found nothing is routine: keep it out of the info log.
        idle = isinstance(event, ReaperRan) and not (event.expired or event.bytes or event.orphans)
        fields = event.fields()
        log.log(
            logging.DEBUG if idle else logging.INFO,
            event.name,
            extra={"event": event.name, **fields},
        )


class Fanout:
    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    async def publish(self, event: Event) -> None:
        for sink in self._sinks:
            try:
                await sink.publish(event)
            except Exception:
                log.exception("event sink %s failed on %s", type(sink).__name__, event.name)
