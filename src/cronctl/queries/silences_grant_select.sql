-- Read-only triage roles see the silences; only roles granted more may add or clear them.
GRANT SELECT ON cronctl.silences TO PUBLIC
