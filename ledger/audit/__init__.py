"""Audit: what lets an auditor prove the log instead of trusting the database.

- `merkle`: the Merkle tree over a closed day's balances (pure, no I/O);
- `days`: a day's close figures from the log, its certificate, signing and checking it.
"""
