"""`cronctl init`: draft a runbook from what already schedules the jobs (cron.job, vercel.json, workflows)."""
