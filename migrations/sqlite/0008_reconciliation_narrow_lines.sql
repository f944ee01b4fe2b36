-- projections/reconciliation/: narrower rows for a statement's lines. A line that matched
-- plainly (paired by reference with a payment of the day, every figure equal, nothing
-- carried over or claimed) gets no reconciliation_lines row: the statement's lines are kept
-- as the import loaded them, one text block per chunk (tab-separated: line number,
-- channel_txn_id, reference, kind, amount, fee, status, time; a backslash doubled), and the
-- plain matches' totals (their count, amounts, fees and net figure for pending_reconciliation)
-- in reconciliation_matched. A statement line with no row is a plain match. Imports from
-- before this keep every line as a row (and no blocks): they read the same.
CREATE TABLE reconciliation_statement_blocks (
    reconciliation_id TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    lines TEXT NOT NULL,
    PRIMARY KEY (reconciliation_id, first_seq)
);

CREATE TABLE reconciliation_matched (
    reconciliation_id TEXT PRIMARY KEY,
    count BIGINT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    net BIGINT NOT NULL
);
