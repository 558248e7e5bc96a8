"""Can a job's endpoint be reached at all: DNS, TCP, TLS and any HTTP answer to an OPTIONS request.

No credentials are sent and redirects are not followed; any status code counts as an answer (a 401 or 405
still proves the host, port and certificate are right).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from cronctl.records import EndpointProbe

DEFAULT_TIMEOUT = 3.0
MAX_PARALLEL = 8


def probe(url: str, timeout: float = DEFAULT_TIMEOUT) -> EndpointProbe:
    """One deadline (`timeout`) covers name resolution, connect, TLS and the answer's status line and headers."""
    import httpx

    from cronctl.sources.http_deadline import deadline, make_client, resolve, time_left

    parts = urlsplit(url)
    host = parts.hostname or ""
    https = parts.scheme == "https"
    started = time.monotonic()
    with deadline(timeout):
        try:
            resolve(host, parts.port or (443 if https else 80), time_left())
        except TimeoutError:
            return EndpointProbe(url, host, False, False, error=f"DNS: no answer within {timeout:g}s",
                                 timed_out=True, elapsed=time.monotonic() - started)  # fmt: skip
        except (OSError, UnicodeError, ValueError) as exc:
            return EndpointProbe(url, host, False, False, error=f"DNS: {exc}", elapsed=time.monotonic() - started)
        try:
            with make_client(verify=https, trust_env=False) as client:
                request = client.build_request("OPTIONS", url, headers={"User-Agent": "cronctl-doctor"},
                                               timeout=timeout)  # fmt: skip
                response = client.send(request, stream=True, follow_redirects=False)
                response.close()  # the status line and headers are the answer; the body is not read
            return EndpointProbe(url, host, True, https, status=response.status_code,
                                 elapsed=time.monotonic() - started)  # fmt: skip
        except httpx.TimeoutException:
            return EndpointProbe(url, host, True, False, error=f"no answer within {timeout:g}s", timed_out=True,
                                 elapsed=time.monotonic() - started)  # fmt: skip
        except httpx.ConnectError as exc:
            reason = str(exc) or type(exc).__name__
            if https and ("SSL" in reason or "certificate" in reason.lower()):
                reason = f"TLS: {reason}"
            return EndpointProbe(url, host, True, False, error=reason, elapsed=time.monotonic() - started)
        except httpx.HTTPError as exc:
            return EndpointProbe(url, host, True, False, error=f"{type(exc).__name__}: {exc}",
                                 elapsed=time.monotonic() - started)  # fmt: skip


def probe_all(urls: Iterable[str], timeout: float = DEFAULT_TIMEOUT) -> list[EndpointProbe]:
    unique = list(dict.fromkeys(urls))
    if not unique:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(unique))) as pool:
        return list(pool.map(lambda u: probe(u, timeout), unique))
