"""Start-up cost of the CLI against a bare interpreter start.

Run: .venv/bin/python bench/startup.py [--runs N]
Targets: `--version` under 5x and `--help` under 10x `python3 -c pass`.
"""

from __future__ import annotations

import argparse
import sys

from _common import ROOT, cronctl, machine, markdown_table, ms, time_command


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    runbook = str(ROOT / "runbooks" / "demo.toml")
    env = {"DEMO_URL": "http://127.0.0.1:9", "DATABASE_URL": "postgresql://localhost/none"}
    base = time_command([sys.executable, "-c", "pass"], args.runs)
    cases = [
        ("python3 -c pass", base, None),
        ("cronctl --version", time_command([cronctl(), "--version"], args.runs), 5),
        ("cronctl --help", time_command([cronctl(), "--help"], args.runs), 10),
        ("cronctl jobs -r runbooks/demo.toml", time_command([cronctl(), "jobs", "-r", runbook], args.runs, env), None),
    ]
    rows = [
        [
            f"`{name}`",
            ms(t),
            f"{t / base:.1f}x",
            f"< {target}x" if target else "-",
            ("ok" if t / base < target else "MISSED") if target else "-",
        ]
        for name, t, target in cases
    ]
    print("## Startup\n")
    print(f"Machine: {machine()}  ")
    print(f"Command: `.venv/bin/python bench/startup.py --runs {args.runs}` (median of {args.runs} runs each)\n")
    print(markdown_table(["command", "median wall", "ratio to bare python", "target", "verdict"], rows))


if __name__ == "__main__":
    main()
