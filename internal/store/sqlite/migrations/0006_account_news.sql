-- 0006: account news (internal/accountnews.Backend, issue 19): a process
-- that re-read an account from Mono (after a reauth) says so here, and the
-- other processes on the file re-read it too. Only the account id, when,
-- and which replica: no account data. IMMEDIATE transactions make writers
-- take turns, so versions are committed in order; each write prunes news a
-- day old, keeping the newest row, so the version never goes back.
CREATE TABLE IF NOT EXISTS account_news (
	version    INTEGER PRIMARY KEY,  -- the change feed: every write takes max + 1
	account_id TEXT NOT NULL,
	at         INTEGER NOT NULL,     -- when it was read, unix milliseconds (the reader's clock)
	replica    TEXT NOT NULL         -- the replica id that read it
);
CREATE INDEX IF NOT EXISTS account_news_at ON account_news(at);
