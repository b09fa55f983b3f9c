"""Serve an ASGI application from a background thread, for tests against a real Restate server.

The thread shares the test process's database connections settings, so handlers
write to the same test database the test reads with the ORM::

    with LiveASGIServer(application, "uvicorn") as live:
        register(AdminAPI(server.admin_url), live.url + "/restate")
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Literal

import httpx

from .server import free_port
from .waiting import eventually

#: uvicorn speaks HTTP/1.1; hypercorn and granian also speak HTTP/2 (h2c), which Restate streams over.
ServerKind = Literal["uvicorn", "hypercorn", "granian"]


class LiveASGIServer:
    def __init__(self, app: Any, kind: ServerKind = "uvicorn", host: str = "127.0.0.1", port: int | None = None):
        self.app = app
        self.kind = kind
        self.host = host
        self.port = port or free_port()
        self._thread: threading.Thread | None = None
        self._stop: Any = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> LiveASGIServer:
        self._thread = threading.Thread(target=self._run, name=f"live-{self.kind}-{self.port}", daemon=True)
        self._thread.start()

        def answers() -> None:
            if self._error is not None:
                raise RuntimeError(f"{self.kind} failed to start") from self._error
            httpx.get(self.url + "/", timeout=1)  # any HTTP answer means it is up; Django may well 404 on "/"

        try:
            eventually(answers, timeout, retry_on=httpx.HTTPError)
        except httpx.HTTPError as exc:
            raise TimeoutError(f"{self.kind} did not start on {self.url}") from exc
        return self

    def _run(self) -> None:
        try:
            if self.kind == "uvicorn":
                self._run_uvicorn()
            elif self.kind == "granian":
                asyncio.run(self._serve_granian())
            else:
                asyncio.run(self._serve_hypercorn())
        except BaseException as exc:  # reported to start()
            self._error = exc

    def _run_uvicorn(self) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning", lifespan="on")
        server = uvicorn.Server(config)
        self._stop = lambda: setattr(server, "should_exit", True)
        server.run()

    async def _serve_hypercorn(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        config = Config()
        config.bind = [f"{self.host}:{self.port}"]
        config.loglevel = "WARNING"
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._stop = lambda: loop.call_soon_threadsafe(stop.set)
        await serve(self.app, config, shutdown_trigger=stop.wait)

    async def _serve_granian(self) -> None:
        from granian.constants import Interfaces
        from granian.server.embed import Server

        server = Server(self.app, self.host, self.port, interface=Interfaces.ASGI, websockets=False)
        loop = asyncio.get_running_loop()
        self._stop = lambda: loop.call_soon_threadsafe(server.stop)
        await server.serve()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def __enter__(self) -> LiveASGIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
