-- The silences of one runbook in force at a time (an expired one no longer applies: it vanishes by itself).
SELECT id, job, created_at, until, author, reason
  FROM cronctl.silences
 WHERE runbook = %(runbook)s
   AND created_at <= %(at)s
   AND until > %(at)s
 ORDER BY until, id
 LIMIT 1000
