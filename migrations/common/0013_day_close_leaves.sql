-- A closed day's Merkle leaves: every account's closing balance (credits minus debits, minor
-- units) at the day's close, for balance proofs (projections/day_closes.py). Not a view the
-- runner rebuilds: the leaves come from the log up to the close's position, which never
-- changes, and they are checked against the signed root each time they are written; a day
-- without rows here has them recomputed from the log on the first proof asked of it.
CREATE TABLE day_close_leaves (
    day TEXT NOT NULL,
    account_id TEXT NOT NULL,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    PRIMARY KEY (day, account_id)
);
