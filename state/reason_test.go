package state

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

// The agent's clock for reason tests: 2 March 2026, 15:00 in Lagos (WAT,
// UTC+1). Mono's timestamps are UTC; evidence shows them in the agent's zone.
var (
	wat       = time.FixedZone("WAT", 3600)
	reasonNow = time.Date(2026, 3, 2, 15, 0, 0, 0, wat)
	at1402    = time.Date(2026, 3, 2, 13, 2, 0, 0, time.UTC) // 14:02 WAT
	at0914    = time.Date(2026, 3, 2, 8, 14, 0, 0, time.UTC) // 09:14 WAT
	at1500    = time.Date(2026, 3, 2, 14, 0, 0, 0, time.UTC) // 15:00 WAT
)

// account reads the way Mono's GET /v2/accounts/{id} does: no sync_status,
// sync_message or last_synced_at.
func account(status mono.DataStatus, retrieved ...string) mono.Account {
	return mono.Account{
		ID:            "6650f0c2a1b2c3d4e5f60718",
		Name:          "ADAORA NKEM OBI",
		AuthMethod:    mono.AuthInternetBanking,
		DataStatus:    status,
		RetrievedData: retrieved,
		Institution:   mono.Institution{Name: "GTBank", BankCode: "058"},
	}
}

var full = []string{"identity", "balance", "transactions"}

func hook(event string, at time.Time, syncStatus string) *WebhookEvidence {
	return &WebhookEvidence{Event: event, At: at, SyncStatus: syncStatus}
}

func checked(w *WebhookEvidence, history ...PastAttempt) Signals {
	return Signals{Webhook: w, WebhooksChecked: true, History: history, HistoryChecked: true, Now: reasonNow}
}

// TestReasonFromDocumentedSignals derives the reason from what Mono documents
// (webhooks, data_status with retrieved_data) and the account's own history
// only: no sync_* field on the read.
func TestReasonFromDocumentedSignals(t *testing.T) {
	const (
		updated    = "mono.events.account_updated"
		reauthReq  = "mono.events.reauthorisation_required"
		reauthDone = "mono.events.account_reauthorized"
		jobs       = "mono.accounts.jobs.update"
	)
	otpTwice := PastAttempt{At: at0914, Outcome: "FAILED", Errors: []string{"INVALID_OTP", "INVALID_OTP"}}
	for _, tc := range []struct {
		name     string
		acct     mono.Account
		sig      Signals
		kind     ReasonKind
		needs    bool
		summary  string
		evidence []string
	}{
		{
			name: "healthy", acct: account(mono.StatusAvailable, full...), sig: checked(nil),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status AVAILABLE", "no Mono webhook says otherwise", "no failed attempt"},
		},
		{
			name: "healthy, nothing wired", acct: account(mono.StatusAvailable, full...), sig: Signals{},
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status AVAILABLE", "Mono webhooks not checked", "past attempts not checked"},
		},
		{
			name: "still processing", acct: account(mono.StatusProcessing), sig: checked(nil),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status PROCESSING (Mono is still fetching data)", "no Mono webhook says otherwise", "no failed attempt"},
		},
		{
			name: "partial, not balance only", acct: account(mono.StatusPartial, "identity", "balance"), sig: checked(nil),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status PARTIAL (only some data)", "no Mono webhook says otherwise", "no failed attempt"},
		},
		{
			// The trap: cached data AVAILABLE while Mono says reauth.
			name: "account_updated REAUTHORISATION_REQUIRED", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at1402, "REAUTHORISATION_REQUIRED")),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED",
				"data_status AVAILABLE (Mono's cached data; it does not show the connection works)",
				"no previous attempt",
			},
		},
		{
			name: "legacy reauthorisation_required, no timestamp", acct: account(mono.StatusFailed),
			sig:  checked(hook(reauthReq, time.Time{}, "")),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{"Mono webhook reauthorisation_required: the account needs reauth", "data_status FAILED (no fresh data)", "no previous attempt"},
		},
		{
			name: "reauth webhook and a wrong OTP twice before", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at1402, "REAUTHORISATION_REQUIRED"), otpTwice),
			kind: MFARequired, needs: true, summary: "Mono says this account needs reauth; a previous attempt shows why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED",
				"data_status AVAILABLE (Mono's cached data; it does not show the connection works)",
				"Previous attempt at 09:14: Error INVALID_OTP twice; outcome FAILED → MFA required by the bank",
			},
		},
		{
			name: "exit on the MFA page", acct: account(mono.StatusUnavailable),
			sig: checked(hook(reauthReq, at1402, ""),
				PastAttempt{At: at0914, Outcome: "EXPIRED", ExitPage: "MFA"}),
			kind: MFARequired, needs: true, summary: "Mono says this account needs reauth; a previous attempt shows why",
			evidence: []string{
				"Mono webhook reauthorisation_required at 14:02: the account needs reauth",
				"data_status UNAVAILABLE (no fresh data)",
				"Previous attempt at 09:14: closed the widget on the MFA page; outcome EXPIRED → MFA required by the bank",
			},
		},
		{
			name: "a bank error says nothing about why", acct: account(mono.StatusFailed),
			sig: checked(hook(updated, at1402, "REAUTHORISATION_REQUIRED"),
				PastAttempt{At: at0914, Outcome: "FAILED", Errors: []string{"BANK_UNAVAILABLE"}}),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED",
				"data_status FAILED (no fresh data)",
				"Previous attempt at 09:14: Error BANK_UNAVAILABLE; outcome FAILED",
			},
		},
		{
			name: "account_updated FAILED", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at1402, "FAILED")),
			kind: ReasonUnknown, needs: true, summary: "Mono reports a failed sync; it did not say reauth is required, or why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status FAILED (a sync failed; Mono did not say reauth is required)",
				"data_status AVAILABLE",
				"no previous attempt",
			},
		},
		{
			name: "failed Real-Time Data job", acct: account(mono.StatusAvailable, full...),
			sig:  checked(&WebhookEvidence{Event: jobs, At: at1402, JobName: "transactions", JobStatus: "failed"}),
			kind: ReasonUnknown, needs: true, summary: "Mono reports a failed sync; it did not say reauth is required, or why",
			evidence: []string{
				"Mono webhook accounts.jobs.update at 14:02: transactions job failed (a Real-Time Data fetch; Mono did not say reauth is required)",
				"data_status AVAILABLE",
				"no previous attempt",
			},
		},
		{
			name: "finished job", acct: account(mono.StatusAvailable, full...),
			sig:  checked(&WebhookEvidence{Event: jobs, At: at1402, JobName: "balance", JobStatus: "finished"}),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status AVAILABLE", "Mono webhook accounts.jobs.update at 14:02: balance job finished", "no failed attempt"},
		},
		{
			name: "account_updated SUCCESSFUL outranks a stale FAILED data_status", acct: account(mono.StatusFailed),
			sig:  checked(hook(updated, at1402, "SUCCESSFUL")),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status FAILED (no fresh data)", "Mono webhook account_updated at 14:02: sync_status SUCCESSFUL", "no failed attempt"},
		},
		{
			name: "account_reauthorized", acct: account(mono.StatusProcessing),
			sig:  checked(hook(reauthDone, at1402, "")),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status PROCESSING (Mono is still fetching data)", "Mono webhook account_reauthorized at 14:02: the last reauth completed", "no failed attempt"},
		},
		{
			name: "a success after the webhook settles it", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at0914, "REAUTHORISATION_REQUIRED"), PastAttempt{At: at1402, Outcome: "SUCCEEDED"}),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{
				"data_status AVAILABLE",
				"Mono webhook account_updated at 09:14: sync_status REAUTHORISATION_REQUIRED (before the successful attempt below)",
				"Previous attempt at 14:02: outcome SUCCEEDED",
			},
		},
		{
			name: "a success before the webhook does not", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at1402, "REAUTHORISATION_REQUIRED"), PastAttempt{At: at0914, Outcome: "SUCCEEDED"}),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED",
				"data_status AVAILABLE (Mono's cached data; it does not show the connection works)",
				"Previous attempt at 09:14: outcome SUCCEEDED",
			},
		},
		{
			name: "last attempt failed, no webhook", acct: account(mono.StatusAvailable, full...),
			sig:  checked(nil, PastAttempt{At: at0914, Outcome: "ENDED BY AGENT"}),
			kind: ReasonUnknown, needs: true, summary: "The last attempt did not succeed, so the account likely still needs reauth",
			evidence: []string{"no Mono webhook about this account", "data_status AVAILABLE", "Previous attempt at 09:14: outcome ENDED BY AGENT"},
		},
		{
			name: "a sync after the failed attempt clears it", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at1402, "SUCCESSFUL"), PastAttempt{At: at0914, Outcome: "FAILED"}),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status AVAILABLE", "Mono webhook account_updated at 14:02: sync_status SUCCESSFUL", "Previous attempt at 09:14: outcome FAILED"},
		},
		{
			name: "a failed attempt after the sync does not", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook(updated, at0914, "SUCCESSFUL"), PastAttempt{At: at1402, Outcome: "EXPIRED", Errors: []string{"INVALID_OTP"}}),
			kind: MFARequired, needs: true, summary: "The last attempt did not succeed, so the account likely still needs reauth; a previous attempt shows why",
			evidence: []string{
				"Mono webhook account_updated at 09:14: sync_status SUCCESSFUL",
				"data_status AVAILABLE",
				"Previous attempt at 14:02: Error INVALID_OTP; outcome EXPIRED → MFA required by the bank",
			},
		},
		{
			name: "no outcome recorded is not a failure", acct: account(mono.StatusAvailable, full...),
			sig:  checked(nil, PastAttempt{At: at0914}),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"data_status AVAILABLE", "no Mono webhook says otherwise", "Previous attempt at 09:14: no outcome recorded"},
		},
		{
			name: "balance only, FAILED: partner bank", acct: account(mono.StatusFailed, "balance"), sig: checked(nil),
			kind: PartnerBankLimitation, summary: "GTBank gives Mono only the balance: a partner-bank limitation, not a reauth need",
			evidence: []string{
				"data_status FAILED with retrieved_data [balance]: GTBank returns only the balance (a partner-bank limitation, not a reauth need)",
				"no Mono webhook says otherwise", "no failed attempt",
			},
		},
		{
			name: "balance only, PARTIAL: partner bank", acct: account("partial", "Balance"), sig: checked(nil),
			kind: PartnerBankLimitation, summary: "GTBank gives Mono only the balance: a partner-bank limitation, not a reauth need",
			evidence: []string{
				"data_status PARTIAL with retrieved_data [balance]: GTBank returns only the balance (a partner-bank limitation, not a reauth need)",
				"no Mono webhook says otherwise", "no failed attempt",
			},
		},
		{
			name: "balance only but Mono says reauth", acct: account(mono.StatusFailed, "balance"),
			sig:  checked(hook(updated, at1402, "REAUTHORISATION_REQUIRED")),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{
				"Mono webhook account_updated at 14:02: sync_status REAUTHORISATION_REQUIRED",
				"data_status FAILED with retrieved_data [balance]: GTBank returns only the balance (also a partner-bank limitation)",
				"no previous attempt",
			},
		},
		{
			name: "balance only, UNAVAILABLE: no data, not the partner", acct: account(mono.StatusUnavailable, "balance"), sig: checked(nil),
			kind: ReasonUnknown, needs: true, summary: "Mono has no fresh data for this account; nothing says it needs reauth, or why",
			evidence: []string{"no Mono webhook about this account", "data_status UNAVAILABLE (no fresh data)", "no previous attempt"},
		},
		{
			name: "FAILED data only", acct: account(mono.StatusFailed), sig: checked(nil),
			kind: ReasonUnknown, needs: true, summary: "Mono has no fresh data for this account; nothing says it needs reauth, or why",
			evidence: []string{"no Mono webhook about this account", "data_status FAILED (no fresh data)", "no previous attempt"},
		},
		{
			name: "sync_failed", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook("sync_failed", at1402, "")),
			kind: ReasonUnknown, needs: true, summary: "Mono reports a failed sync; it did not say reauth is required, or why",
			evidence: []string{"Mono webhook sync_failed at 14:02: Mono's automatic sync failed", "data_status AVAILABLE", "no previous attempt"},
		},
		{
			name: "received without a timestamp, with Mono's data request id", acct: account(mono.StatusFailed),
			sig:  checked(&WebhookEvidence{Event: updated, At: at0914, Received: true, SyncStatus: "REAUTHORISATION_REQUIRED", DataRequestID: "DRQ5XK2M9PAB"}),
			kind: ReasonUnknown, needs: true, summary: "Mono says this account needs reauth, but not why",
			evidence: []string{
				"Mono webhook account_updated received at 09:14: sync_status REAUTHORISATION_REQUIRED (data_request_id DRQ5XK2M9PAB)",
				"data_status FAILED (no fresh data)", "no previous attempt",
			},
		},
		{
			name: "account_unlinked", acct: account(mono.StatusAvailable, full...),
			sig:  checked(hook("mono.events.account_unlinked", at1402, "")),
			kind: AccountUnlinked, summary: "Mono says this account was unlinked: it cannot be re-authorised; the customer must link it again",
			evidence: []string{
				"Mono webhook account_unlinked at 14:02: the link is gone and cannot be re-authorised",
				"data_status AVAILABLE", "no failed attempt",
			},
		},
		{
			name: "no data_status at all", acct: account(""), sig: checked(nil),
			kind: NoSignOfReauth, summary: "No sign this account needs reauth",
			evidence: []string{"no data_status on the account read", "no Mono webhook says otherwise", "no failed attempt"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ReasonFrom(tc.acct, tc.sig)
			if r.Kind != tc.kind || r.NeedsReauth() != tc.needs || r.Overridden {
				t.Fatalf("kind %s needs %v overridden %v, want %s needs %v\nevidence %q", r.Kind, r.NeedsReauth(), r.Overridden, tc.kind, tc.needs, r.Evidence)
			}
			if r.Summary != tc.summary {
				t.Errorf("summary\n got %q\nwant %q", r.Summary, tc.summary)
			}
			if !slices.Equal(r.Evidence, tc.evidence) {
				t.Errorf("evidence\n got %q\nwant %q", r.Evidence, tc.evidence)
			}
			if !slices.Equal(r.Script, scriptFor(tc.kind, "GTBank", mono.AuthInternetBanking)) {
				t.Errorf("script %q is not the %s script", r.Script, tc.kind)
			}
			for _, line := range r.Evidence {
				for _, field := range []string{"sync_message", "last_synced_at", "account read:"} {
					if strings.Contains(line, field) {
						t.Errorf("evidence names %s, which Mono does not send on reads: %q", field, line)
					}
				}
			}
		})
	}
}

// History alone, with no webhook, decides the kind only once something says
// the account needs reauth; a healthy account's old OTP errors are only
// evidence.
func TestHistoryGivesTheKindOnlyWhenReauthIsNeeded(t *testing.T) {
	old := PastAttempt{At: at0914, Outcome: "SUCCEEDED", Errors: []string{"INVALID_OTP"}}
	r := ReasonFrom(account(mono.StatusAvailable, full...), checked(nil, old))
	if r.Kind != NoSignOfReauth || r.NeedsReauth() {
		t.Fatalf("%s %q", r.Kind, r.Evidence)
	}
	if want := "Previous attempt at 09:14: Error INVALID_OTP; outcome SUCCEEDED"; !slices.Contains(r.Evidence, want) {
		t.Errorf("evidence %q lacks %q", r.Evidence, want)
	}
}

// OTP-like error types point to MFA; other errors do not. Error types are
// opaque text (Mono documents no list), so words are matched, not names.
func TestWhichErrorsPointToMFA(t *testing.T) {
	for errType, want := range map[string]bool{
		"INVALID_OTP": true, "otp_expired": true, "MFA_TIMEOUT": true, "wrong-2fa-code": true, "ONE_TIME_PASSWORD_WRONG": true,
		"BANK_UNAVAILABLE": false, "INTERNAL_ERROR": false, "FOOTPRINT_MISMATCH": false, "INVALID_CREDENTIALS": false, "": false,
	} {
		got := isMFAAttempt(PastAttempt{Errors: []string{errType}})
		if got != want {
			t.Errorf("%q: MFA %v, want %v", errType, got, want)
		}
	}
	for page, want := range map[string]bool{"MFA": true, "mfa": true, "OTP": true, "LOGIN": false, "": false} {
		if got := isMFAAttempt(PastAttempt{ExitPage: page}); got != want {
			t.Errorf("exit on %q: MFA %v, want %v", page, got, want)
		}
	}
}

// Evidence names when each signal happened in the agent's time zone, with
// the date when it was not today; many attempts are summarised.
func TestEvidenceTimesAndManyAttempts(t *testing.T) {
	march := time.Date(2026, 2, 27, 5, 40, 0, 0, time.UTC)
	lastYear := time.Date(2025, 11, 4, 9, 12, 0, 0, time.UTC)
	for _, tc := range []struct {
		at, now time.Time
		want    string
	}{
		{at1402, reasonNow, "at 14:02"},
		{march, reasonNow, "on 27 Feb at 06:40"},
		{lastYear, reasonNow, "on 4 Nov 2025 at 10:12"},
		{at1402, time.Time{}, "on 2 Mar at 13:02"}, // no clock: the date always, in the time's own zone
	} {
		if got := when(tc.at, tc.now, true); got != tc.want {
			t.Errorf("when(%v, %v) = %q, want %q", tc.at, tc.now, got, tc.want)
		}
	}

	var history []PastAttempt
	for i := range 6 {
		history = append(history, PastAttempt{At: at0914.Add(time.Duration(i) * time.Minute), Outcome: "FAILED"})
	}
	history[0].Errors = []string{"INVALID_OTP", "INVALID_OTP", "INVALID_OTP"} // the oldest says why
	r := ReasonFrom(account(mono.StatusFailed), checked(hook("reauthorisation_required", at1402, ""), history...))
	want := []string{
		"Mono webhook reauthorisation_required at 14:02: the account needs reauth",
		"data_status FAILED (no fresh data)",
		"Previous attempt at 09:19: outcome FAILED",
		"Previous attempt at 09:18: outcome FAILED",
		"Previous attempt at 09:17: outcome FAILED",
		"Previous attempt at 09:14: Error INVALID_OTP 3 times; outcome FAILED → MFA required by the bank",
		"2 earlier attempts not shown",
	}
	if r.Kind != MFARequired || !slices.Equal(r.Evidence, want) {
		t.Errorf("%s\n got %q\nwant %q", r.Kind, r.Evidence, want)
	}
}

// sync_status and sync_message on a read are used when present (Mono does
// not send them on account reads, but a future reply might): the message's
// words give the kind.
func TestReadSyncFieldsAreUsedWhenPresent(t *testing.T) {
	for _, tc := range []struct {
		message string
		want    ReasonKind
		keyword string
	}{
		{"Bank requires OTP", MFARequired, "otp"},
		{"BANK REQUIRES OTP", MFARequired, "otp"},
		{"Enter the token from your hardware device", MFARequired, "token"},
		{"MFA challenge pending", MFARequired, "mfa"},
		{"A one-time password is required", MFARequired, "one-time"},
		{"2FA required to continue", MFARequired, "2fa"},
		{"Customer enabled 2FA on their bank account", CustomerTwoFA, "2fa"},
		{"Two-factor authentication was turned on by the user", CustomerTwoFA, "two-factor"},
		{"Answer the security question", AdditionalVerification, "security question"},
		{"Captcha required", AdditionalVerification, "captcha"},
		{"Additional verification needed", AdditionalVerification, "verification"},
		{"Please verify your identity", AdditionalVerification, "verify"},
		{"Account access has expired", ConnectionExpired, "expir"},
		{"Session token expired", ConnectionExpired, "expir"},
		{"Login expired", ConnectionExpired, "expir"},
		{"Invalid password", PasswordChanged, "password"},
		{"Customer changed their PASSWORD", PasswordChanged, "password"},
		{"Something odd happened", ReasonUnknown, ""},
		{"Footprint mismatch", ReasonUnknown, ""}, // "otp" inside a word is not an OTP
	} {
		t.Run(tc.message, func(t *testing.T) {
			a := account(mono.StatusAvailable, full...)
			a.SyncStatus, a.SyncMessage = "reauthorisation_required", tc.message
			r := ReasonFor(a)
			if r.Kind != tc.want || !r.NeedsReauth() {
				t.Fatalf("kind = %s, want %s (evidence %q)", r.Kind, tc.want, r.Evidence)
			}
			wantEvidence := []string{"Mono webhooks not checked", "account read: sync_status REAUTHORISATION_REQUIRED", `account read: sync_message "` + tc.message + `"`}
			if tc.keyword != "" {
				wantEvidence = append(wantEvidence, `sync_message mentions "`+tc.keyword+`" → `+tc.want.String())
			} else {
				wantEvidence = append(wantEvidence, "sync_message matches no known reason")
			}
			wantEvidence = append(wantEvidence, "data_status AVAILABLE (Mono's cached data; it does not show the connection works)", "past attempts not checked")
			if !slices.Equal(r.Evidence, wantEvidence) {
				t.Errorf("evidence\n got %q\nwant %q", r.Evidence, wantEvidence)
			}
		})
	}

	// last_synced_at and a FAILED sync_status, when a read carries them.
	a := account(mono.StatusFailed)
	a.SyncStatus, a.LastSyncedAt = "FAILED", time.Date(2026, 2, 14, 9, 30, 0, 0, wat)
	r := ReasonFrom(a, checked(nil))
	want := []string{
		"no Mono webhook about this account",
		"account read: sync_status FAILED (a sync failed)",
		"account read: last_synced_at 14 Feb 09:30",
		"data_status FAILED (no fresh data)",
		"no previous attempt",
	}
	if r.Kind != ReasonUnknown || !r.NeedsReauth() || !slices.Equal(r.Evidence, want) {
		t.Errorf("got %s %q", r.Kind, r.Evidence)
	}
	if r.Summary != "Mono reports a failed sync; it did not say reauth is required, or why" {
		t.Errorf("summary %q", r.Summary)
	}
	// A read's sync_status is as of now: a SUCCESSFUL webhook does not
	// outrank it.
	a = account(mono.StatusAvailable, full...)
	a.SyncStatus = mono.SyncReauthRequired
	if r := ReasonFrom(a, checked(hook("account_updated", at1402, "SUCCESSFUL"))); !r.NeedsReauth() {
		t.Errorf("read's REAUTHORISATION_REQUIRED lost to an older webhook: %q", r.Evidence)
	}
}

// Evidence and scripts are terminal-safe: whatever the webhook, read or
// audit carried is cleaned.
func TestReasonTextIsClean(t *testing.T) {
	a := account(mono.StatusFailed)
	a.Institution.Name = "GT\x1b[31mBank"
	r := ReasonFrom(a, Signals{
		Webhook: &WebhookEvidence{Event: "mono.events.account_updated\x1b]52;c;aGk=\x07", At: at1402, SyncStatus: "reauthorisation_required\u202e"},
		History: []PastAttempt{{At: at0914, Outcome: "failed\r\n", Errors: []string{"INVALID_OTP\x1b[2J"}, ExitPage: "MFA\x07"}},
		Now:     reasonNow,
	})
	for _, line := range append(append(r.Evidence, r.Script...), r.Summary) {
		if line != mono.CleanText(line) || strings.ContainsAny(line, "\x1b\x07\r\n\u202e") {
			t.Errorf("unclean: %q", line)
		}
	}
	if r.Kind != MFARequired || !strings.Contains(r.Evidence[0], "sync_status REAUTHORISATION_REQUIRED") {
		t.Errorf("%s %q", r.Kind, r.Evidence)
	}
}

func TestScriptsAreSpecificAndPlain(t *testing.T) {
	seen := map[string]ReasonKind{}
	kinds := append(AllReasonKinds(), NoSignOfReauth, PartnerBankLimitation, AccountUnlinked)
	for _, kind := range kinds {
		withBank := scriptFor(kind, "GTBank", mono.AuthInternetBanking)
		noBank := scriptFor(kind, "", "")
		for _, script := range [][]string{withBank, noBank, scriptFor(kind, "Kuda Bank", mono.AuthMobileBanking)} {
			if n := len(script); n < 2 || n > 3 {
				t.Errorf("%s: %d sentences", kind, n)
			}
			for _, line := range script {
				if !(strings.HasSuffix(line, ".") || strings.HasSuffix(line, "?")) || strings.Contains(line, "%") || line != strings.TrimSpace(line) {
					t.Errorf("%s: not a plain sentence: %q", kind, line)
				}
			}
		}
		if !strings.Contains(withBank[0], "GTBank") {
			t.Errorf("%s: first sentence does not name the bank: %q", kind, withBank[0])
		}
		if !strings.Contains(strings.ToLower(noBank[0]), "your bank") {
			t.Errorf("%s: without a bank name: %q", kind, noBank[0])
		}
		if other, dup := seen[withBank[0]]; dup {
			t.Errorf("%s and %s share an opening sentence", kind, other)
		}
		seen[withBank[0]] = kind

		// Only reasons to re-authorise send a link; the others never tell the
		// customer the bank wants them to confirm anything.
		text := strings.ToLower(strings.Join(withBank, " "))
		sends := strings.Contains(text, "secure link")
		if sends != kind.NeedsReauth() {
			t.Errorf("%s: sends a link %v, needs reauth %v: %q", kind, sends, kind.NeedsReauth(), withBank)
		}
		if !kind.NeedsReauth() && (strings.Contains(text, "confirm") || strings.Contains(text, "code") || strings.Contains(text, "expired")) {
			t.Errorf("%s: tells the customer the bank wants something: %q", kind, withBank)
		}
	}
	mfa := ReasonFrom(account(mono.StatusFailed), checked(hook("reauthorisation_required", at1402, ""),
		PastAttempt{At: at0914, Errors: []string{"INVALID_OTP"}})).Script
	want := "Your bank, GTBank, now asks for a one-time code before we can keep reading your account."
	if mfa[0] != want || mfa[1] != "I'm sending you a secure link; log in with your internet banking details as usual and enter the code your bank sends you." {
		t.Errorf("MFA script %q", mfa)
	}
	mobile := scriptFor(ReasonUnknown, "Kuda Bank", mono.AuthMobileBanking)
	if !strings.Contains(mobile[1], "mobile banking details") {
		t.Errorf("auth_method not used: %q", mobile)
	}
}

func TestWithKind(t *testing.T) {
	derived := ReasonFrom(account(mono.StatusAvailable, full...), checked(hook("account_updated", at1402, "REAUTHORISATION_REQUIRED"),
		PastAttempt{At: at0914, Outcome: "FAILED", Errors: []string{"INVALID_OTP"}}))
	if derived.Kind != MFARequired {
		t.Fatalf("derived %s", derived.Kind)
	}
	r := derived.WithKind(ConnectionExpired)
	if r.Kind != ConnectionExpired || !r.Overridden || !r.NeedsReauth() {
		t.Fatalf("%+v", r)
	}
	if last := r.Evidence[len(r.Evidence)-1]; last != "reason set by the agent (derived: MFA required by the bank)" {
		t.Errorf("evidence ends %q", last)
	}
	if !slices.Equal(r.Evidence[:len(r.Evidence)-1], derived.Evidence) {
		t.Errorf("override lost the data's evidence: %q", r.Evidence)
	}
	if !strings.Contains(r.Script[0], "expired") || !strings.HasPrefix(r.Summary, "Reason set by the agent; the data said: Mono says") {
		t.Errorf("script or summary not for the chosen kind: %q %q", r.Script, r.Summary)
	}
	// Overriding again replaces the agent's line; choosing the derived kind
	// undoes the override.
	again := r.WithKind(PasswordChanged)
	if again.Kind != PasswordChanged || len(again.Evidence) != len(r.Evidence) || !strings.Contains(again.Evidence[len(again.Evidence)-1], "derived: MFA required") {
		t.Errorf("second override %+v", again)
	}
	back := again.WithKind(MFARequired)
	if back.Overridden || back.Summary != derived.Summary || !slices.Equal(back.Evidence, derived.Evidence) || !slices.Equal(back.Script, derived.Script) {
		t.Errorf("choosing the derived kind is no override: %+v", back)
	}
	// The original is untouched (WithKind copies).
	if derived.Overridden || len(derived.Evidence) != len(back.Evidence) {
		t.Error("WithKind changed its receiver")
	}
	// An agent can say an account with no sign needs reauth anyway.
	healthy := ReasonFrom(account(mono.StatusAvailable, full...), checked(nil))
	if h := healthy.WithKind(ReasonUnknown); !h.NeedsReauth() || !h.Overridden || !strings.Contains(strings.Join(h.Script, " "), "secure link") {
		t.Errorf("healthy overridden: %+v", h)
	}
	// ReasonWithKind is the same over ReasonFor.
	a := account(mono.StatusAvailable)
	a.SyncStatus, a.SyncMessage = mono.SyncReauthRequired, "Bank requires OTP"
	if got := ReasonWithKind(a, ConnectionExpired); got.Kind != ConnectionExpired || !got.Overridden ||
		!slices.Contains(got.Evidence, `account read: sync_message "Bank requires OTP"`) {
		t.Errorf("ReasonWithKind %+v", got)
	}
	if same := ReasonWithKind(a, MFARequired); same.Overridden || !slices.Equal(same.Evidence, ReasonFor(a).Evidence) {
		t.Errorf("choosing the derived kind is no override: %+v", same)
	}
}

func TestAllReasonKindsAndStrings(t *testing.T) {
	picker := AllReasonKinds()
	names := map[string]bool{}
	for k := ReasonUnknown; k.valid(); k++ {
		if slices.Contains(picker, k) != k.NeedsReauth() {
			t.Errorf("%s: in the picker %v, needs reauth %v", k, slices.Contains(picker, k), k.NeedsReauth())
		}
		if names[k.String()] || strings.HasPrefix(k.String(), "ReasonKind(") {
			t.Errorf("bad name %q", k)
		}
		names[k.String()] = true
	}
	if len(picker) != 6 || len(names) != 9 {
		t.Errorf("AllReasonKinds has %d entries for %d kinds", len(picker), len(names))
	}
	for kind, want := range map[ReasonKind]string{
		MFARequired: "MFA required by the bank", CustomerTwoFA: "2FA set up by the customer",
		AdditionalVerification: "Additional verification", ConnectionExpired: "Connection expired",
		PasswordChanged: "Password changed", ReasonUnknown: "Unknown", NoSignOfReauth: "No sign it needs reauth",
		PartnerBankLimitation: "Partner bank limitation", AccountUnlinked: "Unlinked: link it again", ReasonKind(77): "ReasonKind(77)",
	} {
		if kind.String() != want {
			t.Errorf("%d: %q, want %q", int(kind), kind, want)
		}
	}
	if (Reason{}).NeedsReauth() != true {
		t.Error("the zero Reason (Unknown) must count as needing reauth")
	}
}

// Mono documents no lifetime for a hosted link: its script never promises
// the page's 10 minutes, and says the rest the same.
func TestHostedScriptPromisesNoLifetime(t *testing.T) {
	for _, kind := range AllReasonKinds() {
		r := Reason{Kind: kind, Script: scriptFor(kind, "GTBank", "internet_banking")}
		hosted := r.HostedScript()
		if len(hosted) != len(r.Script) {
			t.Fatalf("%v: hosted script has %d sentences, want %d", kind, len(hosted), len(r.Script))
		}
		joined := strings.Join(hosted, " ")
		if strings.Contains(joined, "10 minutes") {
			t.Errorf("%v: hosted script promises 10 minutes: %q", kind, joined)
		}
		if strings.Contains(strings.Join(r.Script, " "), "10 minutes") && !strings.Contains(joined, "comes from Mono") {
			t.Errorf("%v: hosted script does not say where the link comes from: %q", kind, joined)
		}
		if hosted[0] != r.Script[0] {
			t.Errorf("%v: hosted script changed the reason's sentence", kind)
		}
	}
}
