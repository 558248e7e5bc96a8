"""How long `make test` takes: on a fresh clone (venv included) and as a repeated run of the suite itself.

Run: .venv/bin/python bench/suite.py [--runs N] [--no-fresh]
Targets: on a fresh clone `make test` within 90 s, its test run (pytest's own figure) within 45 s.

The fresh clone is a `git clone` of this checkout's HEAD into a temporary directory; `make test` there builds the
venv from the package registry, compiles, and runs ruff and the suite. A warm run repeats the suite in this
checkout as `make test` starts it. Machine CPU (all processes: the workers, their PostgreSQL clusters, the
servers) comes from /proc/stat around each run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import ROOT, machine, markdown_table

WALL_TARGET_S = 90.0
RUN_TARGET_S = 45.0
_SUMMARY = re.compile(r"(\d+) passed.* in ([0-9.]+)s")


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (Linux), or None."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _timed(argv: Sequence[str], cwd: Path) -> tuple[float, float | None, str, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    busy = _busy_seconds()
    began = time.monotonic()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=1800)
    wall = time.monotonic() - began
    after = _busy_seconds()
    cpu = after - busy if busy is not None and after is not None else None
    return wall, cpu, proc.stdout + proc.stderr, proc.returncode


def _test_run(output: str) -> tuple[int, float]:
    """Tests passed and pytest's own duration, from its summary line."""
    matches = _SUMMARY.findall(output)
    if not matches:
        raise SystemExit("no pytest summary line in the output:\n" + output[-2000:])
    passed, seconds = matches[-1]
    return int(passed), float(seconds)


def _verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "MISSED"


def fresh() -> list[str]:
    with tempfile.TemporaryDirectory(prefix="cronctl-suite-") as tmp:
        clone = Path(tmp) / "cronctl"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        wall, cpu, output, code = _timed(["make", "test"], clone)
    if code != 0:
        raise SystemExit(f"`make test` on a fresh clone failed (exit {code}):\n{output[-3000:]}")
    passed, run = _test_run(output)
    return [
        "fresh clone, `make test`",
        f"{wall:.1f} s",
        f"{run:.1f} s",
        f"{cpu:.0f} s" if cpu is not None else "-",
        str(passed),
        f"{_verdict(wall, WALL_TARGET_S)} / {_verdict(run, RUN_TARGET_S)}",
    ]


def warm(runs: int) -> list[str]:
    python = str(ROOT / ".venv" / "bin" / "python")
    argv = [python, "-m", "pytest", "-q", "-n", "5", "-p", "no:cacheprovider"]
    walls, cpus, seconds, passed = [], [], [], 0
    for _ in range(runs):
        wall, cpu, output, code = _timed(argv, ROOT)
        if code != 0:
            raise SystemExit(f"the suite failed (exit {code}):\n{output[-3000:]}")
        passed, run = _test_run(output)
        walls.append(wall)
        seconds.append(run)
        if cpu is not None:
            cpus.append(cpu)
    return [
        f"warm, `pytest -q -n 5` (median of {runs})",
        f"{statistics.median(walls):.1f} s",
        f"{statistics.median(seconds):.1f} s (range {min(seconds):.1f}–{max(seconds):.1f})",
        f"{statistics.median(cpus):.0f} s" if cpus else "-",
        str(passed),
        _verdict(statistics.median(seconds), RUN_TARGET_S),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="warm runs of the suite (default 3)")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh clone (it needs the registry)")
    args = parser.parse_args()
    rows = [] if args.no_fresh else [fresh()]
    rows.append(warm(args.runs))
    flags = " ".join([f"--runs {args.runs}", *(["--no-fresh"] if args.no_fresh else [])])
    print("## Suite\n")
    print(f"Machine: {machine()}  ")
    print(f"Command: `.venv/bin/python bench/suite.py {flags}`  ")
    print(f"Targets: fresh-clone `make test` ≤ {WALL_TARGET_S:.0f} s wall, its test run ≤ {RUN_TARGET_S:.0f} s.\n")
    headers = ["run", "wall", "test run (pytest)", "machine CPU", "passed", "verdict"]
    print(markdown_table(headers, rows))


if __name__ == "__main__":
    sys.exit(main())
