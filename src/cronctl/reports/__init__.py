"""Build Report objects from runbooks, records and evaluations. No I/O here."""
