"""The ledger's domain: money, accounts, transfers and holds. No I/O here."""
