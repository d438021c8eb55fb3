package store_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reauth/reauth/internal/store/postgres"
	"github.com/reauth/reauth/internal/store/sqlite"
	"github.com/reauth/reauth/internal/store/storetest"
	"github.com/reauth/reauth/state/audit"
)

// The audit benchmarks (BENCHMARKS.md, 6). Record counts for the lookup:
//
//	REAUTH_BENCH_AUDIT_RECORDS=1000000,10000000 (default 1000000)
//	REAUTH_BENCH_AUDIT_VERIFY=1 (also time Verify over the whole chain)
//
// PostgreSQL is the server in REAUTH_TEST_DATABASE_URL (make bench starts one).
const envRecords = "REAUTH_BENCH_AUDIT_RECORDS"

// envVerify, when set, adds `audit --verify` (the whole chain) to the
// lookup benchmark.
const envVerify = "REAUTH_BENCH_AUDIT_VERIFY"

func benchCounts(b *testing.B) []int {
	s := os.Getenv(envRecords)
	if s == "" {
		s = "1000000"
	}
	var ns []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 100 {
			b.Fatalf("%s=%q: want record counts of at least 100, comma-separated", envRecords, s)
		}
		ns = append(ns, n)
	}
	return ns
}

// recordsPerAccount: an account gets about this many records (a few
// attempts of ten records each) over the year the data spans.
const recordsPerAccount = 40

func accountID(i int) string { return fmt.Sprintf("65f1c0ffee%014x", i) }

// generate yields n records shaped like the app's: attempts of ten records
// (session started, reason shown, mint requested, minted, page opened, three
// widget events, outcome, verification) by 500 agents on n/40 accounts,
// spread over a year.
func generate(n int) iter.Seq2[audit.Record, error] {
	return func(yield func(audit.Record, error) bool) {
		rng := rand.New(rand.NewPCG(1, 2))
		accounts := max(1, n/recordsPerAccount)
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		step := 365 * 24 * time.Hour / time.Duration(n)
		outcomes := []string{"SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "FAILED", "EXPIRED", "ENDED BY AGENT"}
		var (
			session, account string
			agent            audit.Agent
		)
		for i := range n {
			seq := i%10 + 1
			if seq == 1 {
				session = fmt.Sprintf("%016x", rng.Uint64())
				account = accountID(rng.IntN(accounts))
				agent = audit.Agent{User: fmt.Sprintf("agent%03d", rng.IntN(500)), Via: audit.ViaSSH,
					KeyFingerprint: fmt.Sprintf("SHA256:%011x", rng.Uint64()>>20)}
			}
			r := audit.Record{Time: start.Add(time.Duration(i) * step), Agent: agent, Session: session, Seq: seq, Account: account}
			switch seq {
			case 1:
				r.Action = audit.ActionSessionStarted
			case 2:
				r.Action, r.Reason, r.Detail = audit.ActionReasonShown, "MFA required by the bank",
					"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED"
			case 3:
				r.Action, r.Reason = audit.ActionTokenMintRequested, "MFA required by the bank"
			case 4:
				r.Action, r.TokenFingerprint, r.TokenExpiresAt = audit.ActionTokenMinted,
					fmt.Sprintf("sha256:%012x", rng.Uint64()>>16), r.Time.Add(10*time.Minute)
			case 5:
				r.Action, r.PageURL = audit.ActionPageOpened, "http://127.0.0.1:4000/s/"+session
			case 6, 7, 8:
				r.Action, r.Event = audit.ActionWidgetEvent, []string{"Customer chose GTBank", "Error: INVALID_OTP — wrong code", "Customer entered the OTP"}[seq-6]
			case 9:
				r.Action, r.Outcome, r.Detail = audit.ActionOutcome, outcomes[rng.IntN(len(outcomes))], "The customer finished in the widget."
			case 10:
				r.Action, r.Outcome, r.Detail = audit.ActionVerification, "verified", "fresh data confirmed"
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// lookupData is one data set in all three stores.
type lookupData struct {
	n        int
	file     string
	sqlite   *sqlite.Audit
	postgres *postgres.Audit
	accounts int
}

func load(b *testing.B, n int) *lookupData {
	ctx := context.Background()
	d := &lookupData{n: n, accounts: max(1, n/recordsPerAccount)}
	dir := b.TempDir()

	t0 := time.Now()
	d.file = filepath.Join(dir, "audit.jsonl")
	f, err := os.Create(d.file)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for r := range generate(n) {
		if err := enc.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	fi, _ := os.Stat(d.file)
	b.Logf("%d records: JSONL %.0f MB in %v", n, float64(fi.Size())/1e6, time.Since(t0).Round(time.Millisecond))

	// SQLite: one transaction (Import), on one connection with a larger
	// page cache for the load.
	t0 = time.Now()
	sdb, err := sqlite.Open(ctx, filepath.Join(dir, "reauth.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sdb.Close() })
	sdb.SQL.SetMaxOpenConns(1)
	if _, err := sdb.SQL.Exec(`PRAGMA cache_size = -262144`); err != nil {
		b.Fatal(err)
	}
	d.sqlite = sqlite.NewAudit(sdb)
	if _, err := d.sqlite.Import(ctx, "bench", generate(n)); err != nil {
		b.Fatal(err)
	}
	if _, err := sdb.SQL.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	sdb.SQL.SetMaxOpenConns(0)
	fi, _ = os.Stat(filepath.Join(dir, "reauth.db"))
	b.Logf("%d records: SQLite %.0f MB in %v", n, float64(fi.Size())/1e6, time.Since(t0).Round(time.Millisecond))

	// PostgreSQL: COPY in one transaction (Import), then ANALYZE.
	t0 = time.Now()
	pdb, err := postgres.Open(ctx, storetest.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pdb.Close)
	d.postgres = postgres.NewAudit(pdb)
	if _, err := d.postgres.Import(ctx, "bench", generate(n)); err != nil {
		b.Fatal(err)
	}
	if _, err := pdb.Pool.Exec(ctx, `ANALYZE audit_records`); err != nil {
		b.Fatal(err)
	}
	var size int64
	if err := pdb.Pool.QueryRow(ctx, `SELECT pg_total_relation_size('audit_records')`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d records: PostgreSQL %.0f MB in %v", n, float64(size)/1e6, time.Since(t0).Round(time.Millisecond))
	return d
}

// BenchmarkAuditLookup is `reauth audit --account X`: every record of one
// account, oldest first. One op is one lookup of a random account. The file
// (today: every line decoded) is the baseline, measured first in the same
// run; the databases report how many times faster they are.
func BenchmarkAuditLookup(b *testing.B) {
	for _, n := range benchCounts(b) {
		b.Run(fmt.Sprintf("records=%d", n), func(b *testing.B) {
			d := load(b, n)
			var fileNs float64
			lookup := func(b *testing.B, find func(account string) ([]audit.Record, error)) float64 {
				rng := rand.New(rand.NewPCG(3, 4))
				found := 0
				b.ResetTimer()
				for b.Loop() {
					recs, err := find(accountID(rng.IntN(d.accounts)))
					if err != nil {
						b.Fatal(err)
					}
					found += len(recs)
				}
				b.StopTimer()
				ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(ns/1e6, "ms/lookup")
				b.ReportMetric(float64(found)/float64(b.N), "records/lookup")
				b.ReportMetric(0, "ns/op")
				if fileNs > 0 {
					b.ReportMetric(fileNs/ns, "x-faster-than-file")
				}
				return ns
			}
			b.Run("file", func(b *testing.B) {
				fileNs = lookup(b, func(account string) ([]audit.Record, error) {
					recs, _, err := audit.ReadFile(d.file, audit.Filter{Account: account})
					return recs, err
				})
			})
			for _, be := range []struct {
				name string
				b    audit.Backend
			}{{"sqlite", d.sqlite}, {"postgres", d.postgres}} {
				b.Run(be.name, func(b *testing.B) {
					lookup(b, func(account string) ([]audit.Record, error) {
						return be.b.Query(context.Background(), audit.Query{Account: account})
					})
				})
			}
			if os.Getenv(envVerify) == "" {
				return
			}
			// `reauth audit --verify`: the whole chain walked and hashed.
			for _, be := range []struct {
				name string
				b    audit.Backend
			}{{"verify-sqlite", d.sqlite}, {"verify-postgres", d.postgres}} {
				b.Run(be.name, func(b *testing.B) {
					for b.Loop() {
						rep, err := audit.VerifyChain(context.Background(), be.b)
						if err != nil || rep.Records != int64(n) {
							b.Fatalf("Verify: %+v, %v", rep, err)
						}
					}
					b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/verify")
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/record")
					b.ReportMetric(0, "ns/op")
				})
			}
		})
	}
}

// BenchmarkAuditAppend is durable append throughput: 50 writers appending
// at once through one Log (group commit), each Append returning only once its
// record is committed. One op is one record.
func BenchmarkAuditAppend(b *testing.B) {
	const writers = 50
	open := map[string]func(b *testing.B) audit.Backend{
		"file": func(b *testing.B) audit.Backend {
			f, err := audit.OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"))
			if err != nil {
				b.Fatal(err)
			}
			return f
		},
		"sqlite": func(b *testing.B) audit.Backend {
			a, err := sqlite.OpenAudit(context.Background(), filepath.Join(b.TempDir(), "reauth.db"))
			if err != nil {
				b.Fatal(err)
			}
			return a
		},
		"postgres": func(b *testing.B) audit.Backend {
			a, err := postgres.OpenAudit(context.Background(), storetest.PostgresURL(b))
			if err != nil {
				b.Fatal(err)
			}
			return a
		},
	}
	for _, name := range []string{"file", "sqlite", "postgres"} {
		b.Run(name+"/writers=50", func(b *testing.B) {
			l := audit.New(open[name](b), audit.Options{})
			defer l.Close()
			recs := make([]audit.Record, 0, 1000)
			for r := range generate(1000) {
				recs = append(recs, r)
			}
			var (
				next atomic.Int64
				wg   sync.WaitGroup
				fail atomic.Value
			)
			b.ResetTimer()
			start := time.Now()
			for range writers {
				wg.Go(func() {
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						if err := l.Append(recs[i%int64(len(recs))]); err != nil {
							fail.Store(err)
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			if err, _ := fail.Load().(error); err != nil {
				b.Fatal(err)
			}
			n, commits := l.Stats()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(n)/float64(max(commits, 1)), "records/commit")
		})
	}
}
