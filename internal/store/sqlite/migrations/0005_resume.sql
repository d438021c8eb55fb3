-- 0005: cross-replica resume (issue 19).
-- A reconnecting agent asks which live claims hold their key
-- (claim.Backend.HeldBy): the holder's key fingerprint is inside the entry
-- (JSON text), so the index is on that expression, and only on live claims
-- (released rows stay for the change feed). HeldBy's query repeats this
-- expression and predicate exactly: SQLite uses an expression index only
-- for the same expression.
CREATE INDEX IF NOT EXISTS claims_holder_key ON claims(json_extract(entry, '$.holder.key_fingerprint')) WHERE released = 0;

-- The cluster key: one random 32-byte secret per store (DB.ClusterKey),
-- made by whichever process asks first. One row at most (id = 1).
CREATE TABLE IF NOT EXISTS cluster_key (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	key        BLOB NOT NULL CHECK (length(key) = 32),
	created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
