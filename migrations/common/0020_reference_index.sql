-- The transactions' reference look-up (projections/transactions.py `find_by_reference`: a kind and
-- a reference, of one business on either side, or of any for the staff) from one index of the rows
-- that have a reference, instead of 0010's two over every row: most rows (every transfer made
-- without one, every account's opening) have none, and each index costs every row's insert.
-- 0010's led with the business, so a staff look-up across businesses could use neither.
DROP INDEX transactions_reference;
DROP INDEX transactions_counterparty_reference;
CREATE INDEX transactions_reference ON transactions (reference, kind) WHERE reference IS NOT NULL;
