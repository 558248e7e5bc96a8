"""One deadline for a whole HTTP exchange: name resolution, connect, TLS, status line, headers and body.

httpx's timeouts apply to each socket operation and restart on every byte, so a server that sends its status line
one byte a second never times out. Clients made here use a network backend that gives every socket operation at
most the time left until the exchange's deadline (`with deadline(seconds): ...`, per thread), resolves names in a
helper thread so a stuck resolver cannot outlast it either, and keeps a registry of open sockets: `abort_all()`
shuts every one of them down, so an interrupted command never waits on a read.

httpx and httpcore are imported on use; nothing here costs anything at CLI start.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

_local = threading.local()
_open_lock = threading.Lock()
_open: set[socket.socket] = set()
_aborted = threading.Event()


class DeadlineExceeded(Exception):
    """The exchange's deadline passed between two socket operations."""


@contextmanager
def deadline(seconds: float) -> Iterator[float]:
    """Every socket operation of this thread inside the block ends by `seconds` from now (yields the deadline)."""
    previous = getattr(_local, "deadline", None)
    until = time.monotonic() + max(0.0, seconds)
    if previous is not None:
        until = min(until, previous)
    _local.deadline = until
    try:
        yield until
    finally:
        _local.deadline = previous


def time_left() -> float | None:
    """Seconds until this thread's deadline, None when no deadline is set."""
    until = getattr(_local, "deadline", None)
    return None if until is None else until - time.monotonic()


def _clamp(timeout: float | None, exc_type: type[Exception]) -> float | None:
    """The per-operation timeout, cut to the time left; past the deadline (or after abort_all) raise `exc_type`."""
    if _aborted.is_set():
        import httpcore

        raise httpcore.ReadError("the command was interrupted")
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise exc_type("the whole-request deadline has passed")
    return left if timeout is None else min(timeout, left)


def abort_all() -> None:
    """Shut down every open socket (and refuse new operations): blocked reads in other threads return at once."""
    _aborted.set()
    with _open_lock:
        sockets = list(_open)
    for sock in sockets:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def aborted() -> bool:
    """True after abort_all(): the command is being interrupted; start nothing new."""
    return _aborted.is_set()


def pause(seconds: float) -> None:
    """Sleep `seconds`, or less when abort_all() is called meanwhile."""
    _aborted.wait(max(0.0, seconds))


def reset() -> None:
    """Forget an earlier abort_all() (each command starts fresh; tests run many commands in one process)."""
    _aborted.clear()


def _track(sock: socket.socket) -> None:
    with _open_lock:
        _open.add(sock)


def _untrack(sock: socket.socket) -> None:
    with _open_lock:
        _open.discard(sock)


def resolve(host: str, port: int, timeout: float | None) -> list[Any]:
    """getaddrinfo within `timeout` seconds (the system resolver has no timeout of its own)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except ValueError:
        pass
    result: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            result["error"] = exc
        done.set()

    threading.Thread(target=work, name="cronctl-resolve", daemon=True).start()
    limit = time.monotonic() + (timeout if timeout is not None else 3600.0)
    while not done.wait(min(0.1, max(0.0, limit - time.monotonic()))):
        if _aborted.is_set():
            raise OSError(f"resolving {host} was interrupted")
        if time.monotonic() >= limit:
            raise TimeoutError(f"resolving {host} took longer than {timeout:g}s")
    if "error" in result:
        error: Exception = result["error"]
        raise error
    infos: list[Any] = result["infos"]
    return infos


class _Stream:
    """httpcore's network stream with every timeout cut to the deadline, registered for abort_all()."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")
        if self._sock is not None:
            _track(self._sock)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        import httpcore

        data: bytes = self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        import httpcore

        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        if self._sock is not None:
            _untrack(self._sock)
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None) -> Any:
        import httpcore

        if self._sock is not None:
            _untrack(self._sock)  # wrap_socket detaches it; the TLS socket is tracked instead
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _Stream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend:
    """httpcore's sync backend, with resolution and connect under the deadline."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        import httpcore
        from httpcore._backends.sync import SyncStream

        try:
            infos = resolve(host, port, _clamp(timeout, httpcore.ConnectTimeout))
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from None
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from None
        error: OSError | None = None
        for family, kind, proto, _, address in infos:
            sock = socket.socket(family, kind, proto)
            _track(sock)
            try:
                sock.settimeout(_clamp(timeout, httpcore.ConnectTimeout))
                if local_address is not None:
                    sock.bind((local_address, 0))
                for option in socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except TimeoutError:
                _untrack(sock)
                sock.close()
                raise httpcore.ConnectTimeout(f"no connection to {host}:{port} within the deadline") from None
            except OSError as exc:
                _untrack(sock)
                sock.close()
                error = exc
                continue
            _untrack(sock)
            return _Stream(SyncStream(sock))
        raise httpcore.ConnectError(str(error) if error else f"no address for {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options: Any = None) -> Any:
        raise NotImplementedError("unix sockets are not used by cronctl")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@functools.cache
def tls_context(trust_env: bool) -> Any:
    """The verifying TLS context httpx would build, built once: loading the CA bundle takes ~20 ms per client."""
    import httpx

    return httpx.create_ssl_context(verify=True, trust_env=trust_env)


def make_client(*, concurrency: int = 1, verify: bool = True, trust_env: bool = True) -> Any:
    """An httpx.Client whose every exchange inside `deadline()` ends by that deadline. Redirects are not followed."""
    import httpx

    limits = httpx.Limits(max_connections=max(1, concurrency), max_keepalive_connections=max(1, concurrency))
    tls: Any = tls_context(trust_env) if verify else False
    client = httpx.Client(follow_redirects=False, limits=limits, verify=tls, trust_env=trust_env)
    backend = _Backend()
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue
        pool = getattr(transport, "_pool", None)
        if pool is None or not hasattr(pool, "_network_backend"):
            client.close()
            raise RuntimeError("this httpx version does not expose its connection pool; cannot bound requests")
        setattr(pool, "_network_backend", backend)  # noqa: B010 - a private attribute, typed for httpcore's own class
    return client


def read_limited(response: Any, limit: int, *, decoded: bool = False) -> tuple[bytes, int, bool]:
    """At most `limit` bytes of a streamed response body: (kept, bytes read, truncated).

    `decoded` reads the body after content decoding (gzip, deflate); decoding stops with the read, so a
    compression bomb costs at most `limit` bytes plus one chunk."""
    kept = bytearray()
    read = 0
    for chunk in response.iter_bytes() if decoded else response.iter_raw():
        read += len(chunk)
        kept += chunk[: max(0, limit - len(kept))]
        if read > limit:
            return bytes(kept), read, True
        left = time_left()
        if left is not None and left <= 0:
            raise DeadlineExceeded
    return bytes(kept), read, False
