"""Runbooks: one TOML file describing one system's scheduled jobs."""

from cronctl.runbook.loader import find_job, load_runbook, parse_runbook
from cronctl.runbook.model import JobSpec, Runbook

__all__ = ["JobSpec", "Runbook", "find_job", "load_runbook", "parse_runbook"]
