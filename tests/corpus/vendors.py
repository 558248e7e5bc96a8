"""The vendors' APIs that hold the history of jobs fired or logged outside the database, as the sandbox's local
stand-ins serve them: GitHub Actions (sandbox/cronctl_sandbox/github_api.py), Vercel (vercel_api.py) and the
Supabase Management API (supabase_api.py), each a real HTTP server on 127.0.0.1 answering in the vendor's
documented shapes.

A stand-in keeps everything it is given, so every incident gets its own (starting one costs about a millisecond):
the Builder asks for a vendor the first time an incident loads history into it, and the runner stops them all once
the incident has been judged. The tokens are test values, shaped like the real ones.
"""

from __future__ import annotations

from cronctl_sandbox.github_api import GitHubApi
from cronctl_sandbox.supabase_api import SupabaseAPI
from cronctl_sandbox.vercel_api import VercelAPI

GITHUB_TOKEN = "github_pat_corpus0fine0grained0actions0read"
VERCEL_TOKEN = "corpus-vercel-access-token-4b1e"
SUPABASE_TOKEN = "sbp_corpus0management0api0token0c0ffee"
# Seed 001's project ("Sivera Alpha") in its team, as `vercel link` writes them to .vercel/project.json.
VERCEL_PROJECT_ID = "prj_Q3kd8RbXw2LmN5tVc7yHa1Ze"
VERCEL_PROJECT = "sivera-alpha"
VERCEL_TEAM_ID = "team_7fKp2WqLx9RtB4nVm3Jc"
VERCEL_TEAM_SLUG = "sivera"


class Vendors:
    """The stand-ins one incident uses, started on first use."""

    def __init__(self) -> None:
        self._github: GitHubApi | None = None
        self._vercel: VercelAPI | None = None
        self._supabase: SupabaseAPI | None = None

    def github(self) -> GitHubApi:
        if self._github is None:
            self._github = GitHubApi(GITHUB_TOKEN).start()
        return self._github

    def vercel(self) -> VercelAPI:
        if self._vercel is None:
            self._vercel = VercelAPI(
                VERCEL_TOKEN, project_id=VERCEL_PROJECT_ID, project_name=VERCEL_PROJECT, team_id=VERCEL_TEAM_ID,
                team_slug=VERCEL_TEAM_SLUG, domain=f"{VERCEL_PROJECT}.vercel.app",
            ).start()  # fmt: skip
        return self._vercel

    def supabase(self, project_ref: str) -> SupabaseAPI:
        if self._supabase is None:
            self._supabase = SupabaseAPI(SUPABASE_TOKEN, project_ref=project_ref).start()
        assert self._supabase.project_ref == project_ref, "one Supabase project per incident"
        return self._supabase

    def close(self) -> None:
        for api in (self._github, self._vercel, self._supabase):
            if api is not None:
                api.stop()
        self._github = self._vercel = self._supabase = None
