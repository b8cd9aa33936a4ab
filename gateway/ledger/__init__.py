"""The points ledger: double-entry postings, lots, idempotent earn and redemption, history, verify."""
