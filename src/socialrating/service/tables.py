"""The service's own tables: API keys (hashes only), the access log, the one-time sign-in
links used, and the batches the service refused (an institution reads why)."""

from __future__ import annotations

from socialrating.ledger.store import Store

DDL = (
    """CREATE TABLE IF NOT EXISTS api_keys (
        key_id INTEGER NOT NULL, key_hash VARCHAR NOT NULL, role VARCHAR NOT NULL,
        acts_for VARCHAR, created_at TIMESTAMP NOT NULL, revoked_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS access_log (
        read_at TIMESTAMP NOT NULL, key_id INTEGER, role VARCHAR NOT NULL, action VARCHAR NOT NULL,
        subject_id BIGINT NOT NULL, detail VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS used_links (
        nonce VARCHAR PRIMARY KEY, key_id INTEGER NOT NULL, used_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS verifications (
        verified_at TIMESTAMP NOT NULL, ok BOOLEAN NOT NULL, entries BIGINT, head VARCHAR,
        problems BIGINT, first_problem VARCHAR, seconds DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS rejections (
        rejected_at TIMESTAMP NOT NULL, institution VARCHAR NOT NULL, source VARCHAR,
        rows BIGINT, problems BIGINT, first_problems VARCHAR)""",
)


def ensure_tables(store: Store) -> None:
    """Create the service's tables where they are missing (a database opened for writing)."""
    if not store.read_only:
        for statement in DDL:
            store.run(statement)
