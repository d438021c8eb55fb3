-- 0005: cross-replica resume (issue 19).
-- A reconnecting agent asks which live claims hold their key
-- (claim.Backend.HeldBy): the holder's key fingerprint is inside the entry,
-- so the index is on that expression, and only on live claims (released
-- rows stay for the change feed and would outnumber them). HeldBy's query
-- repeats this expression and predicate exactly, so the planner can use it.
CREATE INDEX IF NOT EXISTS claims_holder_key ON claims ((entry->'holder'->>'key_fingerprint')) WHERE NOT released;

-- The cluster key: one random 32-byte secret per database (DB.ClusterKey),
-- made by whichever process asks first, with which replicas authenticate
-- calls to each other's internal endpoints. One row at most (id = 1).
CREATE TABLE IF NOT EXISTS cluster_key (
	id         integer PRIMARY KEY CHECK (id = 1),
	key        bytea NOT NULL CHECK (octet_length(key) = 32),
	created_at timestamptz NOT NULL DEFAULT now()
);
