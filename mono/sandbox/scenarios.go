package sandbox

import (
	"strings"
	"time"

	"github.com/reauth/reauth/mono"
)

// Scenario names how the sandbox's simulated widget (and, for
// ScenarioCannotReauth, the mint endpoint) behaves for an account.
type Scenario string

const (
	ScenarioSucceeds            Scenario = "succeeds"               // the customer re-authorises first time
	ScenarioWrongOTPThenSuccess Scenario = "wrong_otp_then_success" // first OTP is wrong, the second works
	ScenarioBankError           Scenario = "bank_error"             // the bank fails after the OTP is submitted
	ScenarioClosesOnMFA         Scenario = "closes_on_mfa"          // the customer closes the widget on the MFA page
	ScenarioCannotReauth        Scenario = "cannot_reauth"          // minting answers "This account can not be re-authorised."
	ScenarioTokenExpires        Scenario = "token_expires"          // the customer never finishes; the token runs out
	// ScenarioBalanceOnly: the bank gives Mono only the balance (retrieved_data
	// ["balance"], data_status FAILED) and no webhook says the account needs
	// reauth: a partner-bank limitation. A reauth, if the agent insists,
	// succeeds and changes nothing.
	ScenarioBalanceOnly Scenario = "balance_only"
)

// ScenarioAccount describes one named scenario account.
type ScenarioAccount struct {
	ID          string
	Name        string
	Scenario    Scenario
	Description string
}

type scenarioSpec struct {
	ScenarioAccount
	customerID string
	number     string
	bankCode   string
	auth       string
	status     mono.DataStatus
	retrieved  []string // nil: what status implies at the bank
	balance    int64
	email      string
	bvn        string
	// hook is the webhook Mono sent about the account hookAgo before the
	// sandbox's epoch: the only place it says the account needs reauth.
	hook    troubleKind
	hookAgo time.Duration
}

// scenarioTable holds the scenario accounts in list order. Their ids and
// holder names are fixed forever: demos, docs and tests refer to them. The
// "5ca1ab1e" prefix keeps them apart from generated ids. Their reads say
// nothing about reauth (Mono's do not): each one that needs it gets Mono's
// webhook (hook), and the reason comes from that.
var scenarioTable = []scenarioSpec{
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000001", Name: "Folake Adeyemi-Bello", Scenario: ScenarioSucceeds,
			Description: "Re-authorises first time: chooses GTBank, logs in, enters the OTP, done."},
		customerID: "5ca1ab1ec000000000000001", number: "0123456789", bankCode: "058", auth: mono.AuthInternetBanking,
		status:  mono.StatusAvailable, // the trap: cached data AVAILABLE while Mono says reauth
		balance: 48_250_075, email: "folake.adeyemibello@gmail.com", bvn: "4821",
		hook: troubleUpdatedReauth, hookAgo: 3 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000002", Name: "Adaeze Okonkwo", Scenario: ScenarioWrongOTPThenSuccess,
			Description: "Enters a wrong OTP first (INVALID_OTP), then the right one and succeeds."},
		customerID: "5ca1ab1ec000000000000002", number: "0690000031", bankCode: "044", auth: mono.AuthMobileBanking,
		status:  mono.StatusUnavailable,
		balance: 1_275_000_00, email: "adaeze.okonkwo@yahoo.com", bvn: "1934",
		hook: troubleReauthRequired, hookAgo: 6 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000003", Name: "Ikechukwu Anozie", Scenario: ScenarioBankError,
			Description: "The bank errors after the OTP is submitted; the reauth fails."},
		customerID: "5ca1ab1ec000000000000003", number: "3012345678", bankCode: "011", auth: mono.AuthInternetBanking,
		status:  mono.StatusFailed,
		balance: 9_300_50, email: "ike.anozie@outlook.com", bvn: "7710",
		hook: troubleUpdatedReauth, hookAgo: 9 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000004", Name: "Ngozi Eze-Nwachukwu", Scenario: ScenarioClosesOnMFA,
			Description: "Reaches the MFA page, then closes the widget (abandoned)."},
		customerID: "5ca1ab1ec000000000000004", number: "2087654321", bankCode: "057", auth: mono.AuthInternetBanking,
		status: mono.StatusPartial, retrieved: []string{"identity", "balance"},
		balance: 356_780_00, email: "ngozi.ezenwachukwu@gmail.com", bvn: "3056",
		hook: troubleUpdatedReauth, hookAgo: 4 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000005", Name: "Babajide Ogunwale", Scenario: ScenarioCannotReauth,
			Description: "Mono refuses to mint a token (and a hosted link): \"This account can not be re-authorised.\""},
		customerID: "5ca1ab1ec000000000000005", number: "2145678901", bankCode: "033", auth: mono.AuthInternetBanking,
		status:  mono.StatusFailed,
		balance: 12_000_00, email: "babajide.ogunwale@icloud.com", bvn: "6402",
		hook: troubleUpdatedReauth, hookAgo: 41 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000006", Name: "Halima Sadauki", Scenario: ScenarioTokenExpires,
			Description: "Opens the widget but never finishes; the 10-minute token expires."},
		customerID: "5ca1ab1ec000000000000006", number: "9031234567", bankCode: "50211", auth: mono.AuthMobileBanking,
		status:  mono.StatusUnavailable,
		balance: 2_450_000, email: "halima.sadauki@gmail.com", bvn: "2288",
		hook: troubleUpdatedReauth, hookAgo: 12 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000007", Name: "Oluchi Nwankwo-Idowu", Scenario: ScenarioBalanceOnly,
			Description: "OPay gives Mono only the balance (FAILED, retrieved_data [balance]); no webhook says it needs reauth: a partner-bank limitation."},
		customerID: "5ca1ab1ec000000000000007", number: "8123456780", bankCode: "999992", auth: mono.AuthMobileBanking,
		status:  mono.StatusFailed,
		balance: 18_640_00, email: "oluchi.nwankwoidowu@gmail.com", bvn: "5517",
	},
}

func (s scenarioSpec) account() mono.Account {
	inst := bankByCode(s.bankCode)
	a := mono.Account{
		ID:            s.ID,
		Name:          s.Name,
		AccountNumber: s.number,
		Currency:      "NGN",
		Balance:       s.balance,
		Type:          "SAVINGS_ACCOUNT",
		BVN:           s.bvn,
		AuthMethod:    s.auth,
		DataStatus:    s.status,
		Institution:   inst,
		Customer:      mono.Customer{ID: s.customerID, Name: s.Name, Email: s.email},
		RetrievedData: s.retrieved,
	}
	if a.RetrievedData == nil {
		a.RetrievedData = retrievedFor(s.status, balanceOnlyBank(inst))
	}
	return a
}

// Scenarios lists the named scenario accounts in the order they head the
// account list.
func Scenarios() []ScenarioAccount {
	out := make([]ScenarioAccount, len(scenarioTable))
	for i, s := range scenarioTable {
		out[i] = s.ScenarioAccount
	}
	return out
}

// ScenarioFor returns the scenario of accountID, or "" for an ordinary
// account (which behaves like ScenarioSucceeds).
func ScenarioFor(accountID string) Scenario {
	for _, s := range scenarioTable {
		if strings.EqualFold(s.ID, accountID) {
			return s.Scenario
		}
	}
	return ""
}
