-- 0003: the team's claims on accounts (internal/claim.Backend): one row per
-- account, who holds it for which attempt (entry, the claim as JSON), and
-- the change feed (every write takes max + 1; IMMEDIATE transactions make
-- writers take turns, so Take is atomic).
CREATE TABLE IF NOT EXISTS claims (
	account  TEXT PRIMARY KEY,
	attempt  TEXT NOT NULL,
	released INTEGER NOT NULL,
	entry    TEXT NOT NULL,
	version  INTEGER NOT NULL UNIQUE
);
