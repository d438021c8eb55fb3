package state

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// ReasonKind is why an account needs the customer to re-authorise. The zero
// value is ReasonUnknown.
type ReasonKind int

const (
	ReasonUnknown          ReasonKind = iota
	MFARequired                       // the bank asks for an OTP / token / MFA
	CustomerTwoFA                     // the customer turned on 2FA themselves
	AdditionalVerification            // security question, CAPTCHA, extra check
	ConnectionExpired                 // the bank ended the connection
	PasswordChanged                   // the stored login no longer works
)

var reasonNames = [...]string{
	ReasonUnknown:          "Unknown",
	MFARequired:            "MFA required by the bank",
	CustomerTwoFA:          "2FA set up by the customer",
	AdditionalVerification: "Additional verification",
	ConnectionExpired:      "Connection expired",
	PasswordChanged:        "Password changed",
}

func (k ReasonKind) String() string {
	if k.valid() {
		return reasonNames[k]
	}
	return fmt.Sprintf("ReasonKind(%d)", int(k))
}

func (k ReasonKind) valid() bool { return k >= 0 && int(k) < len(reasonNames) }

// AllReasonKinds lists the kinds in the order the override picker shows them.
func AllReasonKinds() []ReasonKind {
	return []ReasonKind{MFARequired, CustomerTwoFA, AdditionalVerification, ConnectionExpired, PasswordChanged, ReasonUnknown}
}

// Reason is why an account needs reauth, what it was concluded from, and what
// the agent can read to the customer.
type Reason struct {
	Kind       ReasonKind
	Evidence   []string // one line per field that said something, e.g. `sync_status = REAUTHORISATION_REQUIRED`
	Script     []string // 2–3 plain sentences to read to the customer
	Overridden bool     // the agent chose Kind over the derived one
}

func (r Reason) clone() Reason {
	r.Evidence = slices.Clone(r.Evidence)
	r.Script = slices.Clone(r.Script)
	return r
}

// reasonRule maps words in Mono's sync message to a reason. Rules are tried in
// order; a rule matches when the message mentions one of any and, if all is
// set, also one of all. Order matters: "access has expired" must win over the
// bare "token" of MFA, and "one-time password" is MFA, not a password change.
type reasonRule struct {
	kind ReasonKind
	any  []string
	all  []string
}

var reasonRules = []reasonRule{
	{CustomerTwoFA, []string{"2fa", "two-factor", "two factor"}, []string{"customer", "user", "enabled", "set up", "turned on", "activated"}},
	{ConnectionExpired, []string{"expir"}, []string{"access", "session", "connection", "consent", "link"}},
	{MFARequired, []string{"otp", "token", "mfa", "one-time", "one time", "2fa", "two-factor", "two factor"}, nil},
	{PasswordChanged, []string{"password"}, nil},
	{AdditionalVerification, []string{"security question", "captcha", "verification", "verify"}, nil},
	{ConnectionExpired, []string{"expir"}, nil},
}

// ReasonFor derives the reason from what Mono told us about the account:
// sync_status, sync_message (keywords, case-insensitive), a data_status stuck
// at FAILED/UNAVAILABLE, and last_synced_at. Each evidence line names the
// field it came from.
func ReasonFor(a mono.Account) Reason {
	var evidence []string
	kind := ReasonUnknown

	if st := strings.TrimSpace(a.SyncStatus); st != "" {
		evidence = append(evidence, "sync_status = "+st)
	}
	msg := strings.TrimSpace(mono.CleanText(a.SyncMessage))
	if msg != "" {
		evidence = append(evidence, "sync_message: "+strconv.Quote(msg))
		if k, word, ok := matchReason(msg); ok {
			kind = k
			evidence = append(evidence, fmt.Sprintf("sync_message mentions %q → %s", word, k))
		} else {
			evidence = append(evidence, "sync_message matches no known reason")
		}
	} else if a.NeedsReauth() {
		evidence = append(evidence, "no sync_message says why")
	}
	if ds := a.DataStatus.Normal(); ds == mono.StatusFailed || ds == mono.StatusUnavailable {
		evidence = append(evidence, "data_status = "+string(ds)+" (no fresh data)")
	}
	if !a.LastSyncedAt.IsZero() {
		evidence = append(evidence, "last_synced_at = "+a.LastSyncedAt.UTC().Format(time.RFC3339))
	}
	if len(evidence) == 0 {
		evidence = append(evidence, "Mono reported no sync problem for this account")
	}
	return Reason{Kind: kind, Evidence: evidence, Script: scriptFor(kind, a.Institution.Name)}
}

// ReasonWithKind is the agent's override: the chosen kind and its script,
// keeping the derived evidence so the record shows what the data said.
func ReasonWithKind(a mono.Account, kind ReasonKind) Reason {
	derived := ReasonFor(a)
	if kind == derived.Kind {
		return derived
	}
	derived.Evidence = append(derived.Evidence, "reason set by the agent (derived: "+derived.Kind.String()+")")
	derived.Kind = kind
	derived.Script = scriptFor(kind, a.Institution.Name)
	derived.Overridden = true
	return derived
}

func matchReason(msg string) (ReasonKind, string, bool) {
	lower := strings.ToLower(msg)
	for _, rule := range reasonRules {
		word, ok := firstMention(lower, rule.any)
		if !ok {
			continue
		}
		if rule.all != nil {
			if _, ok := firstMention(lower, rule.all); !ok {
				continue
			}
		}
		return rule.kind, word, true
	}
	return ReasonUnknown, "", false
}

func firstMention(lower string, words []string) (string, bool) {
	for _, w := range words {
		if mentions(lower, w) {
			return w, true
		}
	}
	return "", false
}

// mentions reports whether lower contains word. Short words ("otp", "mfa",
// "2fa") must stand alone so that, say, "footprint" is not an OTP.
func mentions(lower, word string) bool {
	if len(word) > 3 {
		return strings.Contains(lower, word)
	}
	for i := 0; ; {
		j := strings.Index(lower[i:], word)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(word)
		if (start == 0 || !isAlnum(lower[start-1])) && (end == len(lower) || !isAlnum(lower[end])) {
			return true
		}
		i = start + 1
	}
}

func isAlnum(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
}

const linkLifetimeSentence = "The link works for 10 minutes, so please open it while we're talking."

// scriptFor writes the words for the customer, naming their bank when known.
func scriptFor(kind ReasonKind, bankName string) []string {
	bank := strings.TrimSpace(mono.CleanText(bankName))
	named := func(withBank, without string) string {
		if bank == "" {
			return without
		}
		return fmt.Sprintf(withBank, bank)
	}
	switch kind {
	case MFARequired:
		return []string{
			named("Your bank, %s, now asks for a one-time code before we can keep reading your account.",
				"Your bank now asks for a one-time code before we can keep reading your account."),
			"I'm sending you a secure link; log in as usual and enter the code your bank sends you.",
			linkLifetimeSentence,
		}
	case CustomerTwoFA:
		return []string{
			named("You recently turned on two-factor authentication with %s, so we need you to confirm the connection once.",
				"You recently turned on two-factor authentication with your bank, so we need you to confirm the connection once."),
			"I'm sending you a secure link; log in as usual and approve the code or prompt your bank sends you.",
			linkLifetimeSentence,
		}
	case AdditionalVerification:
		return []string{
			named("%s wants an extra check, such as a security question, before we can keep reading your account.",
				"Your bank wants an extra check, such as a security question, before we can keep reading your account."),
			"I'm sending you a secure link; log in as usual and answer what the bank asks.",
			linkLifetimeSentence,
		}
	case ConnectionExpired:
		return []string{
			named("Your connection to %s has expired; banks end these connections from time to time.",
				"Your bank connection has expired; banks end these connections from time to time."),
			"I'm sending you a secure link to renew it; just log in as usual.",
			linkLifetimeSentence,
		}
	case PasswordChanged:
		return []string{
			named("It looks like your %s password changed, so the saved connection no longer works.",
				"It looks like your bank password changed, so the saved connection no longer works."),
			"I'm sending you a secure link; log in with your new password.",
			linkLifetimeSentence,
		}
	default:
		return []string{
			named("%s needs you to confirm your connection before we can keep reading your account.",
				"Your bank needs you to confirm your connection before we can keep reading your account."),
			"I'm sending you a secure link; log in as usual and follow the steps.",
			linkLifetimeSentence,
		}
	}
}
