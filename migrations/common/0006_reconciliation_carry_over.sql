-- ledger/reconciliation/: currency, carry-over (T+2 and later), duplicates.
-- Each line keeps the channel's time, the waiting difference it carried over from an
-- earlier day (that reconciliation, its seq, the day it began waiting), why it is a
-- duplicate, and whether our side of it lay outside the day's own window (a late
-- outcome, a carried one: such a line claims its payment from every other day).
-- The statement is staged in a temporary table now; statement_lines keeps what older
-- imports wrote.
ALTER TABLE reconciliation_lines ADD COLUMN their_time TEXT;
ALTER TABLE reconciliation_lines ADD COLUMN carried_from TEXT;
ALTER TABLE reconciliation_lines ADD COLUMN carried_seq BIGINT;
ALTER TABLE reconciliation_lines ADD COLUMN carried_day TEXT;
ALTER TABLE reconciliation_lines ADD COLUMN note TEXT;
ALTER TABLE reconciliation_lines ADD COLUMN off_window INTEGER NOT NULL DEFAULT 0;
DROP INDEX reconciliation_lines_class;
CREATE INDEX reconciliation_lines_differences ON reconciliation_lines (reconciliation_id, seq) WHERE class != 'matched';
CREATE INDEX reconciliation_lines_claims ON reconciliation_lines (payment_id) WHERE off_window = 1;
CREATE INDEX reconciliation_lines_unknown ON reconciliation_lines (channel_txn_id) WHERE payment_id IS NULL;
CREATE INDEX reconciliation_lines_carried ON reconciliation_lines (carried_from, carried_seq) WHERE carried_from IS NOT NULL;
DROP INDEX statement_lines_txn;
CREATE INDEX payments_settled ON payments (channel, settled_at);

-- projections/reconciliations.py: every reconciliation (listed, filtered, paged), and the
-- differences waiting for a later day's file, per channel and currency.
CREATE TABLE reconciliations (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    currency TEXT NOT NULL,
    day TEXT NOT NULL,
    status TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    lines BIGINT NOT NULL,
    ours BIGINT NOT NULL,
    differences BIGINT NOT NULL,
    open_differences BIGINT NOT NULL,
    waiting BIGINT NOT NULL,
    carried BIGINT NOT NULL,
    file_hash TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    closed_by TEXT,
    closed_at TEXT,
    moved BIGINT NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX reconciliations_day ON reconciliations (day, id);
CREATE INDEX reconciliations_scope ON reconciliations (channel, currency, day);

CREATE TABLE reconciliation_waiting (
    reconciliation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    channel TEXT NOT NULL,
    currency TEXT NOT NULL,
    day TEXT NOT NULL,
    PRIMARY KEY (reconciliation_id, seq)
);
CREATE INDEX reconciliation_waiting_scope ON reconciliation_waiting (channel, currency, day);
