"""The life of a threaded stand-in HTTP server on 127.0.0.1: start, stop, context manager, URL.

The job server and the vendor API stand-ins (github_api, vercel_api, supabase_api) share it; each supplies its
server class (a ThreadingHTTPServer with an `owner` attribute its handler reads) and handler.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class LocalServer:
    """Subclasses set `server_class`, `handler_class` and `name` (thread name and error text), and call
    `super().__init__()`. `_stopped` is set while stopping: replies that hang or wait on purpose end then."""

    server_class: ClassVar[type[ThreadingHTTPServer]]
    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    name: ClassVar[str]

    def __init__(self) -> None:
        self._stopped = threading.Event()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is None:
            self._stopped.clear()
            server = self.server_class(("127.0.0.1", 0), self.handler_class)
            server.owner = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopped.set()  # releases hanging and delayed answers
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"the {self.name} stand-in is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
