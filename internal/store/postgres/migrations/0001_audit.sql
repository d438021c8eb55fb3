-- 0001: the audit. One row per record: its place in the one hash chain of
-- this schema (id 1, 2, 3…, given under an advisory lock, never a sequence,
-- so there are no gaps), the record's canonical JSON exactly as hashed
-- (text: jsonb would rewrite it), the columns the queries use, and the
-- chain's hashes (state/audit.ChainHash). Append-only: the app only inserts
-- and selects; a trigger refuses UPDATE, DELETE and TRUNCATE.
CREATE TABLE audit_records (
	id          bigint PRIMARY KEY,
	at_ns       bigint NOT NULL,
	account     text NOT NULL,
	account_key text NOT NULL,
	agent_user  text NOT NULL,
	session     text NOT NULL,
	action      text NOT NULL,
	record      text NOT NULL,
	prev_hash   text NOT NULL,
	hash        text NOT NULL
);
CREATE INDEX audit_records_account ON audit_records (account_key, id);
CREATE INDEX audit_records_agent ON audit_records (agent_user, id);
CREATE INDEX audit_records_session ON audit_records (session, id);
CREATE INDEX audit_records_time ON audit_records (at_ns);

-- Files imported once (audit.Log.ImportFile): a second import finds its mark.
CREATE TABLE audit_imports (
	source      text PRIMARY KEY,
	records     bigint NOT NULL,
	imported_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME
		USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_imports_append_only BEFORE UPDATE OR DELETE ON audit_imports
	FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_imports_no_truncate BEFORE TRUNCATE ON audit_imports
	FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
