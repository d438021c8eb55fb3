-- 0000: the store itself. Each later migration is one file, applied once in
-- name order (0001_audit.sql, 0002_marks.sql, ...).
CREATE TABLE IF NOT EXISTS store_info (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
INSERT OR IGNORE INTO store_info(key, value) VALUES ('created_by', 'reauth');
