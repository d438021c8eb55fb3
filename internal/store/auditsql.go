// Package store holds what the audit backends of internal/store/sqlite and
// internal/store/postgres share: the SQL an audit.Query becomes.
package store

import (
	"strconv"
	"strings"

	"github.com/reauth/reauth/state/audit"
)

// AuditColumns are the audit table's columns in the order the backends
// insert and scan them.
const AuditColumns = "id, at_ns, account, account_key, agent_user, session, action, record, prev_hash, hash"

// AuditQuery is the SELECT for q over the audit table, with its arguments.
// placeholder(n) spells the n-th (1-based) parameter: "?" for SQLite, "$n"
// for PostgreSQL. Each filter has an index: (account_key, id), (agent_user,
// id), (session, id), (at_ns); order is the chain's (id).
func AuditQuery(q audit.Query, placeholder func(n int) string) (string, []any) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.Replace(cond, "?", placeholder(len(args)), 1))
	}
	if q.Account != "" {
		add("account_key = ?", audit.AccountKey(q.Account))
	}
	if q.Agent != "" {
		add("agent_user = ?", q.Agent)
	}
	if q.Session != "" {
		add("session = ?", q.Session)
	}
	if !q.Since.IsZero() {
		add("at_ns >= ?", q.Since.UnixNano())
	}
	if !q.Until.IsZero() {
		add("at_ns < ?", q.Until.UnixNano())
	}
	var b strings.Builder
	b.WriteString("SELECT " + AuditColumns + " FROM audit_records")
	if len(where) > 0 {
		b.WriteString(" WHERE " + strings.Join(where, " AND "))
	}
	if q.NewestFirst {
		b.WriteString(" ORDER BY id DESC")
	} else {
		b.WriteString(" ORDER BY id")
	}
	if q.Limit > 0 {
		b.WriteString(" LIMIT " + strconv.Itoa(q.Limit))
	}
	return b.String(), args
}
