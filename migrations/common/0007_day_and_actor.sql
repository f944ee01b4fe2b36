-- Who made a transaction staff make by hand (adjustments, reversals): the `by` its
-- transfer recorded (projections/transactions.py). NULL for the rest, and for rows
-- from logs older than that record, as a replay of them gives.
ALTER TABLE transactions ADD COLUMN actor TEXT;

-- The accounting day a payment's outcome recorded (projections/payments.py): NULL
-- for outcomes from logs older than that record, as a replay of them gives.
ALTER TABLE payments ADD COLUMN settled_day TEXT;

-- The trial balance at an instant reads the postings stamped after it
-- (projections/trial_balance.py).
CREATE INDEX statement_entries_created ON statement_entries (created_at);
