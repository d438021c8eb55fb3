-- 0006: account news (internal/accountnews.Backend, issue 19): a replica
-- that re-read an account from Mono (after a reauth) says so here, and the
-- other replicas re-read it too, so every agent's list shows it. Only the
-- account id, when, and which replica: no account data (each replica reads
-- Mono itself). Writes are serialized by a transaction advisory lock (see
-- accountnews.go), so versions are committed in order; each write prunes
-- news a day old, keeping the newest row, so the version never goes back.
CREATE TABLE IF NOT EXISTS account_news (
	version    bigint PRIMARY KEY,   -- the change feed: every write takes max + 1
	account_id text NOT NULL,
	at         timestamptz NOT NULL, -- when the replica read it (its clock)
	replica    text NOT NULL         -- the replica id that read it
);
CREATE INDEX IF NOT EXISTS account_news_at ON account_news(at);
