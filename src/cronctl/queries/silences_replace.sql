-- A new silence of a job replaces the one it had (job NULL: the runbook's silence of every job).
DELETE FROM cronctl.silences
 WHERE runbook = %(runbook)s AND job IS NOT DISTINCT FROM %(job)s
RETURNING id, job, created_at, until, author, reason
