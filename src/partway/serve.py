"""`partway serve`: the checks before serving, uvicorn's servers, and the start and stop lines.

Apart from cli.py so that a client command (`partway upload`) loads none of it: logging alone
is some 5 ms of that command's start.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import time
from typing import TYPE_CHECKING, Any, Literal

from .failures import EXIT_USAGE, CliError

if TYPE_CHECKING:
    from types import FrameType

    from .config import Settings

log = logging.getLogger("partway")


def check_port_free(host: str, port: int, flag: str) -> None:
    """Say which port is taken and how to pick another, before the database is even opened."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(
            f"cannot bind to {host!r} ({exc.strerror}): give an address of this machine with "
            "--host / PARTWAY_HOST",
            EXIT_USAGE,
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} on {host} is already in use (another partway serve?): stop "
                    f"that process or choose another port with {flag}"
                ) from exc
            raise CliError(
                f"cannot listen on {host}:{port} ({exc.strerror}): choose another address "
                f"with --host / PARTWAY_HOST or port with {flag}"
            ) from exc


def run(settings: Settings) -> int:
    """`partway serve` once its settings are parsed: until SIGTERM or SIGINT."""
    import uvloop

    from .app import create_app
    from .logs import setup_logging
    from .runtime import tune_for_serving, watch_collector

    setup_logging(settings.log_level, settings.log_format)
    check_port_free(settings.host, settings.port, "--port / PARTWAY_PORT")
    if settings.metrics_port is not None:
        check_port_free(settings.host, settings.metrics_port, "PARTWAY_METRICS_PORT")
    from .admin import check_data_dir

    check_data_dir(settings)
    app = create_app(settings)
    tune_for_serving()  # after the app is built: its objects are the ones frozen
    watch_collector(app.state.services.metrics)
    started = time.monotonic()
    _log_stop_on_signals(started)
    uvloop.run(serve(settings, app))
    log.info("partway stopped after %s", _uptime(started))
    return 0


def _uptime(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m{seconds % 60:02d}s"


def _log_stop_on_signals(started: float) -> None:
    """One line at shutdown. uvicorn handles SIGTERM/SIGINT itself, and once it has drained
    the requests in flight it restores the handlers it found and raises the signal again: that
    lands here, which logs the stop and then passes the signal on to the handler that was there
    before (a tool's, such as coverage's, which saves its data) or lets it end the process."""
    before = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}

    def stopped(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.info("partway stopped after %s (%s)", _uptime(started), name)
        handler = before[signal.Signals(signum)]
        if callable(handler) and handler is not signal.default_int_handler:
            signal.signal(signum, handler)
            handler(signum, frame)
            return
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)

    for signum in before:
        signal.signal(signum, stopped)


def http_protocol(settings: Settings, edge: Any) -> Any:
    """partway's HTTP protocol, or uvicorn's stock one if asked or if ours cannot be trusted
    with the installed uvicorn."""
    from .http.fast_path import fast_path_problem

    if settings.http_protocol == "stock":
        log.warning("serving through uvicorn's stock HTTP protocol (http_protocol = stock)")
        return "auto"
    problem = fast_path_problem()
    if problem is not None:
        log.warning(
            "serving through uvicorn's stock HTTP protocol: %s; part bodies go through ASGI "
            "and partway's connection limits are off",
            problem,
        )
        return "auto"
    return edge.protocol()


async def serve(settings: Settings, app: Any) -> None:
    """The API (and /metrics on its own port when configured) until SIGTERM or SIGINT.

    On a signal the server stops accepting, lets requests in flight finish for up to
    shutdown_grace_seconds, then cancels the rest (a part cut off is never recorded).
    """
    import uvicorn

    from .app import build_edge, connection_cap, open_file_limit

    file_limit = open_file_limit()
    edge = build_edge(settings, app.state.services.metrics, file_limit)
    protocol = http_protocol(settings, edge)
    log.info(start_line(settings, file_limit, connection_cap(settings, file_limit)))

    def config(asgi: Any, port: int, lifespan: Literal["on", "off"]) -> uvicorn.Config:
        # The metrics port keeps uvicorn's own protocol: scrapes must not count against (or be
        # refused by) the API's connection cap when it is full.
        return uvicorn.Config(
            asgi,
            host=settings.host,
            port=port,
            http=protocol if port == settings.port else "auto",
            ws="none",  # no WebSocket routes: an upgrade request is refused, never switched
            lifespan=lifespan,
            log_config=None,
            access_log=False,
            timeout_keep_alive=int(settings.keepalive_timeout_seconds),
            timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        )

    edge.pump.start()
    try:
        await _serve_all(settings, app, config)
    finally:
        edge.pump.stop()


def start_line(settings: Settings, file_limit: int, connections: int) -> str:
    """Everything a person needs to know about a server that just started, on one line."""
    from . import __version__

    masked = settings.masked()
    storages = ", ".join(f"{k}={v}" for k, v in masked["storage"].items())
    return (
        f"partway {__version__} serving on http://{settings.host}:{settings.port}; "
        f"data directory {settings.data_dir}; database {masked['database_url']}; "
        f"storages {storages}; open files {file_limit}, connections {connections}"
    )


async def _serve_all(settings: Settings, app: Any, config: Any) -> None:
    import asyncio

    import uvicorn

    from .app import create_metrics_app
    from .http.listeners import listening_sockets

    extra: uvicorn.Server | None = None
    if settings.metrics_port is not None:
        extra = uvicorn.Server(
            config(create_metrics_app(app.state.services), settings.metrics_port, "off")
        )
        metrics_task = asyncio.create_task(extra.serve())
        while not extra.started:
            await asyncio.sleep(0.01)
    # Started last, the API server owns the signal handlers; the metrics server follows it.
    api = uvicorn.Server(config(app, settings.port, "on"))
    backlog = api.config.backlog
    await api.serve(
        sockets=listening_sockets(settings.host, settings.port, settings.listen_sockets, backlog)
    )
    if extra is not None:
        extra.should_exit = True
        await metrics_task
