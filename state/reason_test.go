package state

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reauth/reauth/mono"
)

func reauthAccount(message string) mono.Account {
	return mono.Account{
		ID:          "65f1c0a9e1b2c3d4e5f60718",
		Institution: mono.Institution{Name: "GTBank"},
		SyncStatus:  mono.SyncReauthRequired,
		SyncMessage: message,
		DataStatus:  mono.StatusAvailable,
	}
}

func TestReasonFromSyncMessage(t *testing.T) {
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
			r := ReasonFor(reauthAccount(tc.message))
			if r.Kind != tc.want {
				t.Fatalf("kind = %s, want %s (evidence %q)", r.Kind, tc.want, r.Evidence)
			}
			wantEvidence := []string{"sync_status = REAUTHORISATION_REQUIRED", `sync_message: "` + tc.message + `"`}
			if tc.keyword != "" {
				wantEvidence = append(wantEvidence, `sync_message mentions "`+tc.keyword+`" → `+tc.want.String())
			} else {
				wantEvidence = append(wantEvidence, "sync_message matches no known reason")
			}
			if !slices.Equal(r.Evidence, wantEvidence) {
				t.Errorf("evidence\n got %q\nwant %q", r.Evidence, wantEvidence)
			}
			if r.Overridden {
				t.Error("derived reason marked overridden")
			}
		})
	}
}

func TestReasonEvidenceFromStatusAndTime(t *testing.T) {
	a := mono.Account{
		SyncStatus:   mono.SyncReauthRequired,
		DataStatus:   "failed",
		LastSyncedAt: time.Date(2026, 2, 14, 9, 30, 0, 0, time.FixedZone("WAT", 3600)),
	}
	r := ReasonFor(a)
	want := []string{
		"sync_status = REAUTHORISATION_REQUIRED",
		"no sync_message says why",
		"data_status = FAILED (no fresh data)",
		"last_synced_at = 2026-02-14T08:30:00Z",
	}
	if r.Kind != ReasonUnknown || !slices.Equal(r.Evidence, want) {
		t.Errorf("got %s %q", r.Kind, r.Evidence)
	}

	stuck := ReasonFor(mono.Account{DataStatus: mono.StatusUnavailable})
	if !slices.Equal(stuck.Evidence, []string{"data_status = UNAVAILABLE (no fresh data)"}) {
		t.Errorf("stuck: %q", stuck.Evidence)
	}
	healthy := ReasonFor(mono.Account{DataStatus: mono.StatusAvailable})
	if !slices.Equal(healthy.Evidence, []string{"Mono reported no sync problem for this account"}) {
		t.Errorf("healthy: %q", healthy.Evidence)
	}
}

func TestScriptsAreSpecificAndPlain(t *testing.T) {
	seen := map[string]ReasonKind{}
	for _, kind := range AllReasonKinds() {
		withBank := ReasonWithKind(reauthAccount(""), kind).Script
		noBank := scriptFor(kind, "")
		for _, script := range [][]string{withBank, noBank} {
			if n := len(script); n < 2 || n > 3 {
				t.Errorf("%s: %d sentences", kind, n)
			}
			for _, line := range script {
				if !strings.HasSuffix(line, ".") || strings.Contains(line, "%") || line != strings.TrimSpace(line) {
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
	}
	mfa := ReasonFor(reauthAccount("Bank requires OTP")).Script
	want := "Your bank, GTBank, now asks for a one-time code before we can keep reading your account."
	if mfa[0] != want || !strings.Contains(mfa[1], "enter the code your bank sends you") {
		t.Errorf("MFA script %q", mfa)
	}
}

func TestReasonWithKind(t *testing.T) {
	a := reauthAccount("Bank requires OTP")
	r := ReasonWithKind(a, ConnectionExpired)
	if r.Kind != ConnectionExpired || !r.Overridden {
		t.Fatalf("%+v", r)
	}
	if last := r.Evidence[len(r.Evidence)-1]; last != "reason set by the agent (derived: MFA required by the bank)" {
		t.Errorf("evidence ends %q", last)
	}
	if !slices.Contains(r.Evidence, `sync_message: "Bank requires OTP"`) {
		t.Errorf("override lost the data's evidence: %q", r.Evidence)
	}
	if !strings.Contains(r.Script[0], "expired") {
		t.Errorf("script not for the chosen kind: %q", r.Script)
	}
	same := ReasonWithKind(a, MFARequired)
	if same.Overridden || !slices.Equal(same.Evidence, ReasonFor(a).Evidence) {
		t.Errorf("choosing the derived kind is no override: %+v", same)
	}
}

func TestAllReasonKindsAndStrings(t *testing.T) {
	kinds := AllReasonKinds()
	names := map[string]bool{}
	for k := ReasonUnknown; k.valid(); k++ {
		if !slices.Contains(kinds, k) {
			t.Errorf("%s missing from AllReasonKinds", k)
		}
		if names[k.String()] || strings.HasPrefix(k.String(), "ReasonKind(") {
			t.Errorf("bad name %q", k)
		}
		names[k.String()] = true
	}
	if len(kinds) != len(names) {
		t.Errorf("AllReasonKinds has %d entries for %d kinds", len(kinds), len(names))
	}
	for kind, want := range map[ReasonKind]string{
		MFARequired: "MFA required by the bank", CustomerTwoFA: "2FA set up by the customer",
		AdditionalVerification: "Additional verification", ConnectionExpired: "Connection expired",
		PasswordChanged: "Password changed", ReasonUnknown: "Unknown", ReasonKind(77): "ReasonKind(77)",
	} {
		if kind.String() != want {
			t.Errorf("%d: %q, want %q", int(kind), kind, want)
		}
	}
}
