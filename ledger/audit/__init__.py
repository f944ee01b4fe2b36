"""Audit: what lets an auditor prove the log instead of trusting the database.

- `chain`: the hash chain's link function and genesis value (pure, no I/O);
- `chain_store`: the chain's tables, read and written with plain SQL over the ledger's own datastore;
- `verify`: `fundcenter audit verify`'s walk over the log;
- `merkle`: the Merkle tree over a closed day's balances (pure, no I/O);
- `days`: a day's close figures from the log, its certificate, signing and checking it.
"""
