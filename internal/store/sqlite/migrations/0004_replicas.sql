-- 0004: the replicas whose page servers share one public URL behind a load
-- balancer (issue 19): where each is reached on the internal network, so a
-- replica can forward a page request to the one that owns the page. Each
-- replica refreshes seen_at every few seconds; one silent for longer than
-- the app's stale bound is ignored (and rows a day old are pruned).
CREATE TABLE IF NOT EXISTS replicas (
	id           TEXT PRIMARY KEY,    -- the replica id that begins its page session ids
	internal_url TEXT NOT NULL,       -- its page server's base URL on the internal network
	started_at   INTEGER NOT NULL,    -- unix milliseconds
	seen_at      INTEGER NOT NULL     -- unix milliseconds (one host's clock: SQLite is one machine)
);
