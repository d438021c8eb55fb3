-- 0004: the replicas whose page servers share one public URL behind a load
-- balancer (issue 19): where each is reached on the internal network, so a
-- replica can forward a page request to the one that owns the page. Each
-- replica refreshes seen_at every few seconds; one silent for longer than
-- the app's stale bound is ignored (and rows a day old are pruned).
CREATE TABLE IF NOT EXISTS replicas (
	id           text PRIMARY KEY,    -- the replica id that begins its page session ids
	internal_url text NOT NULL,       -- its page server's base URL on the internal network
	started_at   timestamptz NOT NULL DEFAULT now(),
	seen_at      timestamptz NOT NULL DEFAULT now() -- the server's clock, the same for every replica
);
