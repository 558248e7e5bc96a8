-- Silences every operator of this database sees: one row per silenced job of a runbook (job NULL: every job).
CREATE TABLE IF NOT EXISTS cronctl.silences (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    runbook text NOT NULL,
    job text,
    created_at timestamptz NOT NULL DEFAULT now(),
    until timestamptz NOT NULL,
    author text NOT NULL,
    reason text NOT NULL,
    db_role text NOT NULL DEFAULT current_user,
    CONSTRAINT silences_until_after_created CHECK (until > created_at),
    CONSTRAINT silences_reason_given CHECK (length(btrim(reason)) > 0)
)
