INSERT INTO cronctl.silences (runbook, job, created_at, until, author, reason)
VALUES (%(runbook)s, %(job)s, %(created_at)s, %(until)s, %(author)s, %(reason)s)
RETURNING id
