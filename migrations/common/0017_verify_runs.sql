-- projections/verify_runs.py: each `fundcenter replay` (kind 'replay') and `fundcenter audit verify`
-- (kind 'audit') run's outcome, written once when the run ends (a run that crashes writes nothing).
-- `id` numbers the runs in the order they were recorded; instants are the views' fixed-width UTC
-- text (by the command's clock); `head_position`: the log position the run verified up to;
-- `summary`: its one-line result; `first_problem`: the first mismatch of a failed run (NULL when ok).
CREATE TABLE verify_runs (
    id BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    head_position BIGINT NOT NULL,
    ok BOOLEAN NOT NULL,
    summary TEXT NOT NULL,
    first_problem TEXT
);
CREATE INDEX verify_runs_kind ON verify_runs (kind, id);
