-- projections/payments.py: recharges and withdrawals through channels, and each
-- channel's activity per day (for routing's daily limits and success rates).
CREATE TABLE payments (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    business_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    method TEXT NOT NULL,
    bank TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    status TEXT NOT NULL,
    channel TEXT,
    channel_txn_id TEXT,
    fee BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    settled_at TEXT
);
CREATE INDEX payments_open ON payments (status, created_at);
CREATE INDEX payments_channel_txn ON payments (channel, channel_txn_id);

CREATE TABLE channel_activity (
    channel TEXT NOT NULL,
    method TEXT NOT NULL,
    bank TEXT NOT NULL,
    day TEXT NOT NULL,
    succeeded BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    amount_succeeded BIGINT NOT NULL,
    PRIMARY KEY (channel, method, bank, day)
);
