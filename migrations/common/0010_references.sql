-- The business's own reference (order number) a transfer, a hold, a recharge or a
-- withdrawal was made with (projections/transactions.py), one per business and kind:
-- `GET /v1/transfers?reference=` and the like find it. NULL for the rest, and for rows
-- from logs older than that record, as a replay of them gives. A recharge's business
-- is its counterparty's (the credited side), so both sides have an index.
ALTER TABLE transactions ADD COLUMN reference TEXT;
CREATE INDEX transactions_reference ON transactions (business_id, kind, reference);
CREATE INDEX transactions_counterparty_reference ON transactions (counterparty_business_id, kind, reference);
