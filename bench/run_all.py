"""Run every benchmark script and regenerate docs/BENCHMARKS.md from their Markdown sections.

    .venv/bin/python bench/run_all.py            # what `make bench` runs: sizes up to 10^6 runs
    .venv/bin/python bench/run_all.py --quick    # a smoke run in about a minute (small sizes, few repeats)
    .venv/bin/python bench/run_all.py --full     # adds 5x10^6 runs to the history and triage benchmarks
    .venv/bin/python bench/run_all.py --only startup trigger --output /tmp/b.md
    .venv/bin/python bench/run_all.py --only attribution triage_tracking --merge   # rerun two, keep the rest

Each script starts what it needs (sandbox cluster, job server), prints one Markdown section on stdout and is
runnable on its own; this runner only chooses sizes, records the exact command and wall time of each, and
writes the page. A script that fails is reported on the page (with the end of its stderr) and makes the runner
exit 1, after the others have run.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _common import ROOT, machine

BENCH = Path(__file__).resolve().parent
OUTPUT = ROOT / "docs" / "BENCHMARKS.md"
NOTES = ROOT / "docs" / "benchmarks"
# Helpers that are not benchmarks themselves.
NOT_BENCHMARKS = {"run_all.py", "latency_proxy.py"}
# Cheap ones first; triage reuses the history benchmark's data generator.
ORDER = ["startup", "trigger", "history", "triage", "triage_tracking", "attribution", "fleet", "suite"]
TIMEOUT_S = 3600

# Request tracking at 10 and 50 co-firing jobs, runs:answers from 10^4:10^4 to 5x10^6:10^6.
TRACKING = ["--jobs", "10", "50", "--sizes", "10000:10000", "50000:50000", "1000000:100000", "5000000:1000000"]
TRACKING += ["--repeat", "9"]
# Arguments per script and mode. Scripts not listed run with their own defaults.
PROFILES: dict[str, dict[str, list[str]]] = {
    "quick": {
        "startup": ["--runs", "3"],
        "trigger": ["--runs", "3"],
        "history": ["--sizes", "10000", "100000", "--repeat", "3"],
        "triage": ["--sizes", "10000", "100000", "--repeat", "3"],
        "triage_tracking": ["--jobs", "10", "--sizes", "10000:10000", "100000:100000", "--repeat", "3"],
        "fleet": ["--systems", "20", "--repeat", "3", "--delay-ms", "20"],
    },
    "default": {
        "startup": ["--runs", "11"],
        "trigger": ["--runs", "7"],
        "history": ["--sizes", "10000", "100000", "1000000", "--repeat", "5"],
        "triage": ["--sizes", "10000", "100000", "1000000", "--repeat", "5"],
        "triage_tracking": TRACKING,
        "fleet": ["--systems", "20", "--repeat", "5", "--delay-ms", "20", "50"],
    },
    "full": {
        "startup": ["--runs", "11"],
        "trigger": ["--runs", "7"],
        "history": ["--sizes", "10000", "100000", "1000000", "5000000", "--repeat", "5"],
        "triage": ["--sizes", "10000", "100000", "1000000", "5000000", "--repeat", "5"],
        "triage_tracking": TRACKING,
        "fleet": ["--systems", "20", "--repeat", "5", "--delay-ms", "20", "50"],
    },
}


@dataclass
class Outcome:
    name: str
    argv: list[str]
    seconds: float
    returncode: int
    markdown: str
    stderr_tail: str


def discover(only: list[str] | None) -> list[str]:
    names = [p.stem for p in BENCH.glob("*.py") if not p.name.startswith("_") and p.name not in NOT_BENCHMARKS]
    ordered = [n for n in ORDER if n in names] + sorted(n for n in names if n not in ORDER)
    if only:
        unknown = sorted(set(only) - set(ordered))
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)} (have: {', '.join(ordered)})")
        ordered = [n for n in ordered if n in only]
    return ordered


def shown(argv: list[str]) -> str:
    """The command as a person would type it from the repository root."""
    python = ".venv/bin/python" if Path(argv[0]).parent == ROOT / ".venv" / "bin" else argv[0]
    script = str(Path(argv[1]).resolve().relative_to(ROOT))
    return " ".join(shlex.quote(a) for a in [python, script, *argv[2:]])


def run_one(name: str, extra: list[str]) -> Outcome:
    argv = [sys.executable, str(BENCH / f"{name}.py"), *extra]
    print(f"== {shown(argv)}", file=sys.stderr, flush=True)
    began = time.monotonic()
    try:
        proc = subprocess.run(
            argv, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, stdin=subprocess.DEVNULL
        )
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        code = -1
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {TIMEOUT_S}s"
    seconds = time.monotonic() - began
    print(f"   exit {code} in {seconds:.0f}s", file=sys.stderr, flush=True)
    tail = "\n".join(err.strip().splitlines()[-15:])
    return Outcome(name, argv, seconds, code, out.strip(), tail)


def section(outcome: Outcome) -> str:
    lines = []
    if outcome.returncode == 0 and outcome.markdown:
        if not outcome.markdown.startswith("#"):
            lines += [f"## {outcome.name.capitalize()}", ""]  # every section gets a heading of its own
        lines.append(outcome.markdown)
    else:
        lines += [
            f"## {outcome.name.capitalize()}",
            "",
            f"**Failed** (exit {outcome.returncode}); end of stderr:",
            "",
            "```",
            outcome.stderr_tail or "(nothing)",
            "```",
        ]
        if outcome.markdown:
            lines += ["", "Partial output:", "", outcome.markdown]
    lines += ["", f"Produced by `{shown(outcome.argv)}` in {outcome.seconds:.0f} s."]
    notes = NOTES / f"{outcome.name}.md"
    if notes.is_file():
        lines.append(f"How to read it and what it measures: [docs/benchmarks/{notes.name}](benchmarks/{notes.name}).")
    return "\n".join(lines)


def page(outcomes: list[Outcome], mode: str, invocation: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run_all.py`); do not edit by hand. Every number below comes from the",
        "command printed under its section, run from the repository root; each script starts its own sandbox",
        "PostgreSQL 15 + pg_cron cluster and/or job server, so the numbers can be reproduced on any machine.",
        "",
        f"- Machine: {machine()}",
        f"- Generated: {stamp}, mode `{mode}`, by `{invocation}`",
        "- Sections: " + ", ".join(f"{o.name} ({'ok' if o.returncode == 0 else 'FAILED'})" for o in outcomes),
        "",
        "| benchmark | command | wall time |",
        "|---|---|---:|",
    ]
    head += [f"| {o.name} | `{shown(o.argv)}` | {o.seconds:.0f} s |" for o in outcomes]
    body = [section(o) for o in outcomes]
    return "\n".join(head) + "\n\n" + "\n\n".join(body) + "\n"


_PRODUCED = re.compile(r"^Produced by `[^`]*bench/(\w+)\.py", re.MULTILINE)
_HEAD_ROW = re.compile(r"^\| (\w+) \| `[^`]*` \| [^|]* \|$", re.MULTILINE)


def merged(old: str, outcomes: list[Outcome], mode: str, invocation: str) -> str:
    """The existing page with the sections of `outcomes` replaced (or added); every other section, its row in
    the summary table and its "Produced by" line are kept exactly as they were generated."""
    head, _, _ = old.partition("\n## ")
    chunks = re.split(r"^(?=## )", old[len(head) :].lstrip("\n"), flags=re.MULTILINE)
    kept: dict[str, str] = {}
    for chunk in chunks:
        found = _PRODUCED.search(chunk)
        if found:
            kept[found.group(1)] = chunk.strip()
    rows = {m.group(1): m.group(0) for m in _HEAD_ROW.finditer(head)}
    states = dict(
        re.findall(r"(\w+) \((ok|FAILED)\)", next((ln for ln in head.splitlines() if ln.startswith("- Sections:")), ""))
    )
    fresh = {o.name: o for o in outcomes}
    for o in outcomes:
        kept[o.name] = section(o)
        rows[o.name] = f"| {o.name} | `{shown(o.argv)}` | {o.seconds:.0f} s |"
        states[o.name] = "ok" if o.returncode == 0 else "FAILED"
    names = [n for n in ORDER if n in kept] + sorted(n for n in kept if n not in ORDER)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = []
    for line in head.splitlines():
        if line.startswith("- Sections:"):
            line = "- Sections: " + ", ".join(f"{n} ({states.get(n, 'ok')})" for n in names)
            lines.append(line)
            lines.append(f"- Regenerated {stamp}, mode `{mode}`, by `{invocation}`: " + ", ".join(fresh))
            continue
        if line.startswith("- Regenerated ") or _HEAD_ROW.match(line):
            continue
        lines.append(line)
    table_end = max(i for i, ln in enumerate(lines) if ln.startswith("|---")) + 1
    lines[table_end:table_end] = [rows[n] for n in names if n in rows]
    return "\n".join(lines).rstrip() + "\n\n" + "\n\n".join(kept[n] for n in names) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke run)")
    size.add_argument("--full", action="store_true", help="include 5x10^6 runs (several minutes more)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"page to write (default {OUTPUT})")
    parser.add_argument(
        "--merge", action="store_true", help="with --only: replace only those sections of the existing page"
    )
    args = parser.parse_args()
    mode = "quick" if args.quick else "full" if args.full else "default"
    names = discover(args.only)
    outcomes = [run_one(name, PROFILES[mode].get(name, [])) for name in names]
    invocation = " ".join(shlex.quote(a) for a in [".venv/bin/python", "bench/run_all.py", *sys.argv[1:]])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    if args.merge and args.output.is_file():
        text = merged(args.output.read_text(encoding="utf-8"), outcomes, mode, invocation)
    else:
        text = page(outcomes, mode, invocation)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}", file=sys.stderr)
    return 0 if all(o.returncode == 0 for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
