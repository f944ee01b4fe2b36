-- Read models built from the event log by projections/ (one module per view).
-- Ids are UUID strings, times ISO-8601 UTC strings, amounts integer minor units.
-- Balances are credit-normal for every account: posted = credits - debits.

-- The log position each projection has applied, written in the same
-- transaction as the view rows it covers.
CREATE TABLE projection_tracking (
    application_name TEXT PRIMARY KEY,
    notification_id BIGINT NOT NULL
);

-- projections/balances.py
CREATE TABLE account_balances (
    account_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    business_id TEXT NOT NULL,
    external_ref TEXT NOT NULL,
    currency TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    role TEXT,
    channel TEXT,
    debits BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    posted BIGINT NOT NULL,
    opened_at TEXT NOT NULL,
    position BIGINT NOT NULL
);
CREATE INDEX account_balances_business ON account_balances (business_id, account_id);

CREATE TABLE account_holds (
    hold_id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    released BIGINT NOT NULL,
    captured BIGINT NOT NULL,
    expired BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    reason TEXT NOT NULL,
    expires_at TEXT,
    placed_at TEXT NOT NULL
);
CREATE INDEX account_holds_account ON account_holds (account_id, expired);

-- projections/statements.py
CREATE TABLE statement_entries (
    account_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    transfer_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    side TEXT NOT NULL,
    amount BIGINT NOT NULL,
    balance_after BIGINT NOT NULL,
    counterparty_id TEXT,
    memo TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (account_id, position, seq)
);
CREATE INDEX statement_entries_time ON statement_entries (account_id, created_at);

-- projections/transactions.py
CREATE TABLE transactions (
    id TEXT PRIMARY KEY,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    business_id TEXT,
    account_id TEXT,
    counterparty_id TEXT,
    counterparty_business_id TEXT,
    channel TEXT,
    currency TEXT NOT NULL,
    amount BIGINT NOT NULL,
    memo TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX transactions_position ON transactions (position, id);
CREATE INDEX transactions_business ON transactions (business_id, position);
CREATE INDEX transactions_counterparty_business ON transactions (counterparty_business_id, position);
CREATE INDEX transactions_account ON transactions (account_id, position);
CREATE INDEX transactions_counterparty ON transactions (counterparty_id, position);

-- projections/suspense.py
CREATE TABLE suspense_days (
    channel TEXT NOT NULL,
    currency TEXT NOT NULL,
    day TEXT NOT NULL,
    role TEXT NOT NULL,
    debits BIGINT NOT NULL,
    credits BIGINT NOT NULL,
    PRIMARY KEY (channel, currency, day, role)
);
