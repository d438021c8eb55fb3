-- 0002: the webhook marks (mono/webhook.Backend). One row per account: what
-- Mono (or the app) last said about it, as mono/webhook.Decide ordered it.
-- Writes are serialized by a transaction advisory lock (see marks.go), so
-- versions are committed in order.
CREATE TABLE IF NOT EXISTS webhook_marks (
	account_id text PRIMARY KEY,
	kind       text NOT NULL,        -- reauth_required, sync_failed, unlinked, cleared
	at         timestamptz NOT NULL, -- Mono's time (or receipt), as ordered (to the microsecond; entry has it exactly)
	mono_time  boolean NOT NULL,     -- at is Mono's own timestamp
	entry      jsonb NOT NULL,       -- the mono/webhook.Mark with its evidence
	version    bigint NOT NULL UNIQUE -- the change feed: every write takes max + 1
);
-- Event ids seen (exactly as sent: the key is bytes), for dedupe; kept for
-- webhook.DefaultSeenFor (30 days), pruned by the writes.
CREATE TABLE IF NOT EXISTS webhook_seen (
	key     bytea PRIMARY KEY,
	seen_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_seen_at ON webhook_seen(seen_at);
-- Marks files imported (by content), so each is imported once.
CREATE TABLE IF NOT EXISTS webhook_imports (
	source      text PRIMARY KEY,
	path        text NOT NULL,
	imported_at timestamptz NOT NULL DEFAULT now(),
	marks       integer NOT NULL,
	unlinked    integer NOT NULL,
	cleared     integer NOT NULL,
	seen        integer NOT NULL
);
