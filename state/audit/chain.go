package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Canonical is the JSON a chaining backend stores and hashes: the record
// without its chain fields, times in UTC.
func (r Record) Canonical() ([]byte, error) {
	r.ID, r.PrevHash, r.Hash = 0, "", ""
	r.Time = r.Time.UTC()
	if !r.TokenExpiresAt.IsZero() {
		r.TokenExpiresAt = r.TokenExpiresAt.UTC()
	}
	return json.Marshal(r)
}

// ChainHash is the hash of the record at place id in a chain:
// hex(SHA-256(id "\n" prevHash "\n" canonical)). It covers the previous
// record's hash, so changing or removing any record breaks every link after
// it, and the record's place, so renumbering breaks it too.
func ChainHash(id int64, prevHash string, canonical []byte) string {
	h := sha256.New()
	h.Write(strconv.AppendInt(nil, id, 10))
	h.Write([]byte{'\n'})
	h.Write([]byte(prevHash))
	h.Write([]byte{'\n'})
	h.Write(canonical)
	return hex.EncodeToString(h.Sum(nil))
}

// AccountKey is what account queries compare: the id in lower case.
func AccountKey(account string) string { return strings.ToLower(account) }

// Seal makes the stored form of r at place id after a record whose hash is
// prevHash ("" for the first). Every chaining backend stores this.
func Seal(id int64, prevHash string, r Record) (Stored, error) {
	js, err := r.Canonical()
	if err != nil {
		return Stored{}, fmt.Errorf("audit: %w", err)
	}
	return Stored{
		ID:         id,
		PrevHash:   prevHash,
		Hash:       ChainHash(id, prevHash, js),
		JSON:       js,
		Time:       r.Time.UTC(),
		Account:    r.Account,
		AccountKey: AccountKey(r.Account),
		AgentUser:  r.Agent.User,
		Session:    r.Session,
		Action:     r.Action,
	}, nil
}

// VerifyReport is what VerifyChain walked.
type VerifyReport struct {
	Records int64  // records checked
	Head    string // the last record's hash: note it elsewhere to catch a cut tail later
}

// ChainError names the first record where the chain breaks, from its stored
// columns (what an edit left of its id, time, account and action).
type ChainError struct {
	ID      int64
	Time    time.Time
	Account string
	Action  Action
	Problem string
}

func (e *ChainError) Error() string {
	return fmt.Sprintf("audit chain broken at record %d (%s, account %s, %s): %s",
		e.ID, e.Time.UTC().Format(time.RFC3339), orDash(e.Account), orDash(string(e.Action)), e.Problem)
}

// VerifyChain walks b's chain in order and checks every link: places
// 1, 2, 3… with none missing, each record's prev_hash equal to the hash
// of the record before it, its hash equal to ChainHash of its stored JSON,
// and its query columns equal to what the JSON says. The first record that
// fails is returned as a *ChainError; other errors are the store's. A cut
// tail (the newest records removed) leaves a valid shorter chain: compare
// VerifyReport.Head with one noted earlier.
func VerifyChain(ctx context.Context, b Backend) (VerifyReport, error) {
	var (
		rep      VerifyReport
		prevHash string
	)
	err := b.Walk(ctx, func(s Stored) error {
		want := rep.Records + 1
		if p := problem(s, want, prevHash); p != "" {
			return &ChainError{ID: s.ID, Time: s.Time, Account: s.Account, Action: s.Action, Problem: p}
		}
		rep.Records++
		rep.Head, prevHash = s.Hash, s.Hash
		return nil
	})
	return rep, err
}

func problem(s Stored, want int64, prevHash string) string {
	switch {
	case s.ID > want && s.ID == want+1:
		return fmt.Sprintf("record %d before it is missing (removed)", want)
	case s.ID > want:
		return fmt.Sprintf("records %d to %d before it are missing (removed)", want, s.ID-1)
	case s.ID < want:
		return fmt.Sprintf("its place %d repeats or goes back (want %d)", s.ID, want)
	case s.PrevHash != prevHash:
		return fmt.Sprintf("it does not follow record %d (its prev_hash is not that record's hash: "+
			"record %d was changed with its hash recomputed, or this record's prev_hash was changed)", want-1, want-1)
	case ChainHash(s.ID, s.PrevHash, s.JSON) != s.Hash:
		return "its content does not match its hash (the record was changed)"
	}
	r, err := parse(s.JSON)
	if err != nil {
		return "its content is not a record (" + err.Error() + ")"
	}
	switch {
	case !r.Time.Equal(s.Time), r.Account != s.Account, AccountKey(r.Account) != s.AccountKey,
		r.Agent.User != s.AgentUser, r.Session != s.Session, r.Action != s.Action:
		return "its query columns do not match its content (a column was changed)"
	}
	return ""
}
