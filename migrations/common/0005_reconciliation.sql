-- ledger/reconciliation.py: a channel's statement file for a day, line by line, and
-- its match against the ledger. Written by the import (from the file and the ledger
-- as they were then); the Reconciliation aggregate's events record the import's
-- summary, every resolution and the close.
CREATE TABLE statement_lines (
    reconciliation_id TEXT NOT NULL,
    line_no BIGINT NOT NULL,
    channel_txn_id TEXT NOT NULL,
    reference TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount BIGINT NOT NULL,
    fee BIGINT NOT NULL,
    status TEXT NOT NULL,
    time TEXT NOT NULL,
    payment_id TEXT,
    PRIMARY KEY (reconciliation_id, line_no)
);
CREATE INDEX statement_lines_txn ON statement_lines (reconciliation_id, channel_txn_id);

CREATE TABLE reconciliation_lines (
    reconciliation_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    class TEXT NOT NULL,
    payment_id TEXT,
    reference TEXT,
    channel_txn_id TEXT,
    kind TEXT,
    our_amount BIGINT,
    our_fee BIGINT,
    our_status TEXT,
    their_amount BIGINT,
    their_fee BIGINT,
    their_status TEXT,
    PRIMARY KEY (reconciliation_id, seq)
);
CREATE INDEX reconciliation_lines_class ON reconciliation_lines (reconciliation_id, class, seq);
