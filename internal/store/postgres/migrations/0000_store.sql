-- 0000: the store itself. Each later migration is one file, applied once in
-- name order (0001_audit.sql, 0002_marks.sql, ...) under an advisory lock.
CREATE TABLE IF NOT EXISTS store_info (
	key   text PRIMARY KEY,
	value text NOT NULL
);
INSERT INTO store_info(key, value) VALUES ('created_by', 'reauth') ON CONFLICT DO NOTHING;
