-- 0002: the webhook marks (mono/webhook.Backend). One row per account: what
-- Mono (or the app) last said about it, as mono/webhook.Decide ordered it.
CREATE TABLE IF NOT EXISTS webhook_marks (
	account_id TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,     -- reauth_required, sync_failed, unlinked, cleared
	at         TEXT NOT NULL,     -- Mono's time (or receipt), RFC 3339 UTC, as ordered
	mono_time  INTEGER NOT NULL,  -- 1 when at is Mono's own timestamp
	entry      TEXT NOT NULL,     -- the mono/webhook.Mark with its evidence, JSON
	version    INTEGER NOT NULL UNIQUE -- the change feed: every write takes max + 1
);
-- Event ids seen (exactly as sent: the key is bytes), for dedupe; kept for
-- webhook.DefaultSeenFor (30 days), pruned by the writes.
CREATE TABLE IF NOT EXISTS webhook_seen (
	key     BLOB PRIMARY KEY,
	seen_at INTEGER NOT NULL      -- unix milliseconds
);
CREATE INDEX IF NOT EXISTS webhook_seen_at ON webhook_seen(seen_at);
-- Marks files imported (by content), so each is imported once.
CREATE TABLE IF NOT EXISTS webhook_imports (
	source      TEXT PRIMARY KEY,
	path        TEXT NOT NULL,
	imported_at TEXT NOT NULL,
	marks       INTEGER NOT NULL,
	unlinked    INTEGER NOT NULL,
	cleared     INTEGER NOT NULL,
	seen        INTEGER NOT NULL
);
