"""A hostile HTTP server on 127.0.0.1: raw sockets, one thread per connection, one behaviour per path.

Paths (the first segment picks the behaviour, whatever follows is ignored):
- `/drip-head`   status line and headers one byte every `DRIP_S` seconds, without end
- `/drip-body`   complete headers (Content-Length 1 MB), then the body one byte every `DRIP_S` seconds
- `/silent`      reads the request and never answers
- `/reset`       half a status line, then a TCP reset
- `/huge`        a 200 MB body as fast as the socket takes it
- `/slow-ok`     waits `SLOW_S` seconds, then answers 200 `{"success": true, "ok": true}`
- `/echo`        200 `{"success": true, "headers": {...}, "body": "..."}`: the request as received
- `/say`         200 with the body set by `say(bytes)` (hostile text: escape codes, bidi overrides, ...)
- anything else  200 `{"success": true}` at once
Every request's first line is recorded in `requests` (after it has been read completely).
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from types import TracebackType

DRIP_S = 0.05
SLOW_S = 30.0
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


class HostileServer:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        self.said = b'{"success": true}'
        self.received = threading.Event()
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self.last_headers: dict[str, str] = {}
        self.last_body = ""

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.close()
        self.sock.close()
        self._thread.join(2)

    def _accept(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def say(self, body: bytes) -> None:
        self.said = body

    def _read_request(self, conn: socket.socket) -> str:
        data = b""
        conn.settimeout(5)
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip() or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        first = head.split(b"\r\n", 1)[0].decode("latin-1")
        self.last_headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.decode("latin-1").partition(":")
            self.last_headers[name.strip()] = value.strip()
        self.last_body = rest.decode("utf-8", "replace")
        self.requests.append(first)
        self.received.set()
        return first

    def _serve(self, conn: socket.socket) -> None:
        try:
            first = self._read_request(conn)
            path = first.split(" ")[1] if " " in first else "/"
            kind = path.split("?")[0].strip("/").split("/")[0]
            if kind == "drip-head":
                head = _HEAD + b"X-Pad: " + b"a" * 100_000
                for byte in head:
                    if self._stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(DRIP_S)
            elif kind == "drip-body":
                conn.sendall(_HEAD + b"Content-Length: 1000000\r\n\r\n")
                for _ in range(1_000_000):
                    if self._stop.is_set():
                        return
                    conn.sendall(b" ")
                    time.sleep(DRIP_S)
            elif kind == "silent":
                self._stop.wait(120)
            elif kind == "reset":
                conn.sendall(b"HTTP/1.1 2")
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif kind == "huge":
                size = 200 * 1024 * 1024
                conn.sendall(_HEAD + f"Content-Length: {size}\r\n\r\n".encode())
                block = b"x" * 65536
                for _ in range(size // len(block)):
                    conn.sendall(block)
            elif kind == "echo":
                echo = {"success": True, "headers": self.last_headers, "body": self.last_body}
                self._answer(conn, json.dumps(echo).encode())
            elif kind == "say":
                self._answer(conn, self.said)
            elif kind == "slow-ok":
                self._stop.wait(SLOW_S)
                self._answer(conn)
            else:
                self._answer(conn)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    @staticmethod
    def _answer(
        conn: socket.socket, body: bytes = b'{"success": true, "ok": true, "healthy": true, "checks": {}}'
    ) -> None:
        conn.sendall(_HEAD + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
