"""Helpers shared by the benchmark scripts: timing, machine facts, Markdown output."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def cronctl() -> str:
    return str(BIN / "cronctl")


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, {os.cpu_count()} cores, {cpu}"
    )


def time_command(argv: Sequence[str], runs: int = 7, env: dict[str, str] | None = None, warmup: int = 1) -> float:
    """Median wall time in seconds of running argv to completion."""
    # An installed CLI runs from compiled bytecode; a development shell that forbids writing .pyc files would
    # make every run recompile cronctl's sources, which is not what users pay.
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    full_env.update(env or {})
    samples = []
    for i in range(warmup + runs):
        start = time.perf_counter()
        subprocess.run(
            argv, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False, timeout=600
        )
        elapsed = time.perf_counter() - start
        if i >= warmup:
            samples.append(elapsed)
    return statistics.median(samples)


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"
