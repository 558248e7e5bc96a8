-- Clear one job's silence, or (all = true) every silence of the runbook.
DELETE FROM cronctl.silences
 WHERE runbook = %(runbook)s AND (%(all)s OR job = %(job)s)
RETURNING id, job, created_at, until, author, reason
