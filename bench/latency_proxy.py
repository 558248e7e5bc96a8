"""A TCP proxy that delays every client→server burst by N ms and counts round trips.

A round trip is counted each time the client sends after having received something (or first sends): with
pipelining, many statements go out in one burst and count once.

    python bench/latency_proxy.py --target 127.0.0.1:5432 --delay-ms 20   # prints the port it listens on
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from dataclasses import dataclass, field


@dataclass
class Counter:
    round_trips: int = 0
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.round_trips = 0
            self.connections = 0


class LatencyProxy:
    """Run in a background thread: `with LatencyProxy(host, port, 20) as proxy: ... proxy.port`."""

    def __init__(self, host: str, port: int, delay_ms: float) -> None:
        self.target = (host, port)
        self.delay = delay_ms / 1000.0
        self.counter = Counter()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.counter.connections += 1
        state = {"awaiting_reply": False}

        async def upstream() -> None:
            while data := await client_r.read(65536):
                if not state["awaiting_reply"]:
                    self.counter.round_trips += 1
                    state["awaiting_reply"] = True
                    await asyncio.sleep(self.delay)
                server_w.write(data)
                await server_w.drain()
            server_w.close()

        async def downstream() -> None:
            while data := await server_r.read(65536):
                state["awaiting_reply"] = False
                client_w.write(data)
                await client_w.drain()
            client_w.close()

        await asyncio.gather(upstream(), downstream(), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="host:port of the real server")
    parser.add_argument("--delay-ms", type=float, default=20.0)
    args = parser.parse_args()
    host, port = args.target.rsplit(":", 1)
    with LatencyProxy(host, int(port), args.delay_ms) as proxy:
        print(f"listening on 127.0.0.1:{proxy.port}, +{args.delay_ms:g} ms per round trip", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"round trips: {proxy.counter.round_trips}")


if __name__ == "__main__":
    main()
