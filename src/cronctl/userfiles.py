"""Reading a file the user named (a runbook, an env file, `--data @file`) with a bound on size and time.

`/dev/zero`, a multi-gigabyte log or a FIFO nobody writes to must end in one clear error, not in a hang or
an out-of-memory kill. Errors are OSErrors with a `strerror`, like the ones a plain `open()` raises.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time
from pathlib import Path

READ_TIMEOUT = 5.0  # seconds a pipe or device may take to deliver the whole file


def read_bounded(path: Path | str, limit: int, timeout: float | None = None) -> bytes:
    """The file's bytes; OSError(EFBIG) past `limit` bytes, TimeoutError when a pipe or device is too slow
    (`timeout` seconds, READ_TIMEOUT unless given)."""
    if timeout is None:
        timeout = READ_TIMEOUT
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        regular = stat.S_ISREG(mode)
        until = time.monotonic() + timeout
        chunks: list[bytes] = []
        total = 0
        while True:
            if not regular:
                left = until - time.monotonic()
                if left <= 0 or not select.select([fd], [], [], left)[0]:
                    raise TimeoutError(errno.ETIMEDOUT, f"no end of data within {timeout:g}s", str(path))
            try:
                data = os.read(fd, min(1 << 16, limit + 1 - total))
            except BlockingIOError:
                continue
            if not data:
                return b"".join(chunks)
            total += len(data)
            if total > limit:
                raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
            chunks.append(data)
    finally:
        os.close(fd)
