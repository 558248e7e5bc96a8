-- Every triage check is an index walk over few rows: parallel workers cost more than they save.
SET max_parallel_workers_per_gather = 0
