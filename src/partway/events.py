"""Where lifecycle events go: the log and the metrics."""

from __future__ import annotations

import logging

from .domain.ports import Events

log = logging.getLogger("partway.events")


class LogEvents:
    def emit(self, event: str, **fields: object) -> None:
        # A reaper run that found nothing is routine: keep it out of the info log.
        idle = event == "reaper.run" and not any(fields.values())
        log.log(logging.DEBUG if idle else logging.INFO, event, extra={"event": event, **fields})


class Fanout:
    def __init__(self, *sinks: Events) -> None:
        self._sinks = sinks

    def emit(self, event: str, **fields: object) -> None:
        for sink in self._sinks:
            sink.emit(event, **fields)
