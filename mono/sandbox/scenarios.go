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
	message    string
	balance    int64
	email      string
	bvn        string
	syncedAgo  time.Duration
}

// scenarioTable holds the scenario accounts in list order. Their ids and
// holder names are fixed forever: demos, docs and tests refer to them. The
// "5ca1ab1e" prefix keeps them apart from generated ids.
var scenarioTable = []scenarioSpec{
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000001", Name: "Folake Adeyemi-Bello", Scenario: ScenarioSucceeds,
			Description: "Re-authorises first time: chooses GTBank, logs in, enters the OTP, done."},
		customerID: "5ca1ab1ec000000000000001", number: "0123456789", bankCode: "058", auth: mono.AuthInternetBanking,
		status: mono.StatusFailed, message: "Bank requires OTP verification to continue syncing.",
		balance: 48_250_075, email: "folake.adeyemibello@gmail.com", bvn: "4821", syncedAgo: 3 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000002", Name: "Adaeze Okonkwo", Scenario: ScenarioWrongOTPThenSuccess,
			Description: "Enters a wrong OTP first (INVALID_OTP), then the right one and succeeds."},
		customerID: "5ca1ab1ec000000000000002", number: "0690000031", bankCode: "044", auth: mono.AuthMobileBanking,
		status: mono.StatusUnavailable, message: "Multi-factor authentication (MFA) required by the bank.",
		balance: 1_275_000_00, email: "adaeze.okonkwo@yahoo.com", bvn: "1934", syncedAgo: 6 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000003", Name: "Ikechukwu Anozie", Scenario: ScenarioBankError,
			Description: "The bank errors after the OTP is submitted; the reauth fails."},
		customerID: "5ca1ab1ec000000000000003", number: "3012345678", bankCode: "011", auth: mono.AuthInternetBanking,
		status: mono.StatusFailed, message: "Bank asks for additional verification before data can be retrieved.",
		balance: 9_300_50, email: "ike.anozie@outlook.com", bvn: "7710", syncedAgo: 9 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000004", Name: "Ngozi Eze-Nwachukwu", Scenario: ScenarioClosesOnMFA,
			Description: "Reaches the MFA page, then closes the widget (abandoned)."},
		customerID: "5ca1ab1ec000000000000004", number: "2087654321", bankCode: "057", auth: mono.AuthInternetBanking,
		status: mono.StatusPartial, message: "Customer enabled two-factor authentication (2FA) on their bank account.",
		balance: 356_780_00, email: "ngozi.ezenwachukwu@gmail.com", bvn: "3056", syncedAgo: 4 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000005", Name: "Babajide Ogunwale", Scenario: ScenarioCannotReauth,
			Description: "Mono refuses to mint a token: \"This account can not be re-authorised.\""},
		customerID: "5ca1ab1ec000000000000005", number: "2145678901", bankCode: "033", auth: mono.AuthInternetBanking,
		status: mono.StatusFailed, message: "account access has expired",
		balance: 12_000_00, email: "babajide.ogunwale@icloud.com", bvn: "6402", syncedAgo: 41 * 24 * time.Hour,
	},
	{
		ScenarioAccount: ScenarioAccount{ID: "5ca1ab1e0000000000000006", Name: "Halima Sadauki", Scenario: ScenarioTokenExpires,
			Description: "Opens the widget but never finishes; the 10-minute token expires."},
		customerID: "5ca1ab1ec000000000000006", number: "9031234567", bankCode: "50211", auth: mono.AuthMobileBanking,
		status: mono.StatusUnavailable, message: "",
		balance: 2_450_000, email: "halima.sadauki@gmail.com", bvn: "2288", syncedAgo: 12 * 24 * time.Hour,
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
		SyncStatus:    mono.SyncReauthRequired,
		SyncMessage:   s.message,
		LastSyncedAt:  genEpoch.Add(-s.syncedAgo),
	}
	if s.status == mono.StatusPartial {
		a.RetrievedData = []string{"balance"}
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
