-- 0001: the audit. One row per record: its place in the one hash chain of
-- this store (id 1, 2, 3…), the record's canonical JSON (what the hash
-- covers), the columns the queries use, and the chain's hashes
-- (state/audit.ChainHash). Append-only: triggers refuse UPDATE and DELETE.
CREATE TABLE audit_records (
	id          INTEGER PRIMARY KEY,
	at_ns       INTEGER NOT NULL,
	account     TEXT NOT NULL,
	account_key TEXT NOT NULL,
	agent_user  TEXT NOT NULL,
	session     TEXT NOT NULL,
	action      TEXT NOT NULL,
	record      TEXT NOT NULL,
	prev_hash   TEXT NOT NULL,
	hash        TEXT NOT NULL
);
CREATE INDEX audit_records_account ON audit_records(account_key, id);
CREATE INDEX audit_records_agent ON audit_records(agent_user, id);
CREATE INDEX audit_records_session ON audit_records(session, id);
CREATE INDEX audit_records_time ON audit_records(at_ns);

CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN
	SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused');
END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN
	SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused');
END;

-- Files imported once (audit.Log.ImportFile): a second import finds its mark.
CREATE TABLE audit_imports (
	source      TEXT PRIMARY KEY,
	records     INTEGER NOT NULL,
	imported_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TRIGGER audit_imports_no_update BEFORE UPDATE ON audit_imports
BEGIN
	SELECT RAISE(ABORT, 'audit imports are append-only: UPDATE refused');
END;
CREATE TRIGGER audit_imports_no_delete BEFORE DELETE ON audit_imports
BEGIN
	SELECT RAISE(ABORT, 'audit imports are append-only: DELETE refused');
END;
