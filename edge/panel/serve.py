"""Running the panel: HTTPS where the config says, plain HTTP only as a redirect, one process, clean stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Generator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from starlette.types import ASGIApp

from edge.panel.middleware import RedirectToHttps
from edge.panel.settings import PanelSettings
from edge.panel.tls import Certificate, ensure_certificate, names_for, provided_certificate
from edge.paths import Home

if TYPE_CHECKING:
    from edge.panel.app import Panel

log = logging.getLogger("hall.panel")
MAX_CONNECTIONS = 256  # past this, new connections get 503 (browsers keep a live stream each)


def certificate(home: Home, settings: PanelSettings, hall: str) -> Certificate:
    if settings.tls_cert is not None and settings.tls_key is not None:
        return provided_certificate(settings.tls_cert, settings.tls_key)
    return ensure_certificate(home.root / "tls", names_for(settings.host, settings.tls_names), hall=hall)


def url(host: str, port: int) -> str:
    shown = "<this box's address>" if host in ("0.0.0.0", "::") else host
    return f"https://{'[' + shown + ']' if ':' in shown else shown}:{port}"


def run(panel: Panel, app: ASGIApp, cert: Certificate, *, hall: str) -> int:
    import uvicorn

    from edge.proc import set_title

    class Server(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield  # run() below stops every server on one signal

    s = panel.settings
    where = url(s.host, s.port)
    kind = "self-signed, made by this box" if cert.generated else "provided by the hall"
    print(
        f"hall panel: {where}/ — certificate ({kind}) SHA-256 fingerprint {cert.fingerprint}; "
        "compare it with what the browser shows the first time",
        file=sys.stderr,
        flush=True,
    )
    if s.host in ("0.0.0.0", "::"):
        log.warning("listening on every address of this box (services.panel.host = %s)", s.host)
    if not panel.store.has_users():
        token = panel.store.new_setup_token()
        print(
            f"hall panel: no accounts yet. Open {where}/setup and enter the setup token {token}"
            " to create the first manager (or run: hall users add NAME --role manager)",
            file=sys.stderr,
            flush=True,
        )
    common = {"log_level": "warning", "timeout_graceful_shutdown": 2, "limit_concurrency": MAX_CONNECTIONS}
    servers = [
        Server(
            uvicorn.Config(
                app,
                host=s.host,
                port=s.port,
                ssl_certfile=str(cert.cert),
                ssl_keyfile=str(cert.key),
                **common,  # type: ignore[arg-type]
            )
        )
    ]
    if s.redirect_port:
        redirect = RedirectToHttps(s.host, s.port)
        servers.append(Server(uvicorn.Config(redirect, host=s.host, port=s.redirect_port, lifespan="off", **common)))  # type: ignore[arg-type]

    async def serve_all() -> None:
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for server in servers:
                server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop()  # one server ending (a port taken, a signal) ends the panel
        await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    set_title("hall panel")
    log.info("panel of hall %s on %s", hall, where)
    asyncio.run(serve_all())
    started = all(server.started for server in servers)
    return 0 if started else 1
