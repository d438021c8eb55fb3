-- 0003: the team's claims on accounts (internal/claim.Backend): one row per
-- account, who holds it for which attempt (entry, the claim as JSON), and
-- the change feed (every write takes max + 1). Writes are serialized by a
-- transaction advisory lock (see claims.go), so Take is atomic across
-- replicas and versions are committed in order.
CREATE TABLE IF NOT EXISTS claims (
	account  text PRIMARY KEY,
	attempt  text NOT NULL,
	released boolean NOT NULL,
	entry    jsonb NOT NULL,
	version  bigint NOT NULL UNIQUE
);
