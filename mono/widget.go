package mono

import "time"

// Callback is which Connect callback (or which page-side signal) produced a
// WidgetEvent. The page relays every callback of `new Connect({...})` plus its
// own heartbeat and unload.
type Callback string

const (
	CallbackLoad      Callback = "load"       // onLoad()
	CallbackEvent     Callback = "event"      // onEvent(name, data)
	CallbackSuccess   Callback = "success"    // onSuccess({code})
	CallbackClose     Callback = "close"      // onClose()
	CallbackHeartbeat Callback = "heartbeat"  // page alive (every few seconds)
	CallbackUnload    Callback = "unload"     // page closed or navigated away (sendBeacon)
	CallbackPageError Callback = "page_error" // the page itself failed (e.g. the SDK threw)
)

// onEvent names, from connect.js's raw mono.connect.* message types.
const (
	EventLoaded              = "LOADED"
	EventOpened              = "OPENED"
	EventInstitutionSelected = "INSTITUTION_SELECTED"
	EventAuthMethodSwitched  = "AUTH_METHOD_SWITCHED"
	EventSubmitCredentials   = "SUBMIT_CREDENTIALS"
	EventSubmitMFA           = "SUBMIT_MFA"
	EventAccountSelected     = "ACCOUNT_SELECTED"
	EventAccountLinked       = "ACCOUNT_LINKED"
	EventError               = "ERROR"
	EventExit                = "EXIT"
	EventSuccess             = "SUCCESS"

	// EventPageGone names the unload event the page server makes itself
	// when a page that was heard from falls silent (no heartbeat).
	EventPageGone = "PAGE_GONE"
)

// WidgetEvent is one callback relayed from the page to the server, validated
// and with every string passed through CleanText. Unknown Names are kept
// (Mono may add events) and must be shown, never crash anything.
type WidgetEvent struct {
	Seq      int64     `json:"seq"`
	Callback Callback  `json:"callback"`
	Name     string    `json:"name,omitempty"` // onEvent name when Callback is "event"
	At       time.Time `json:"at"`             // data.timestamp when given, else receipt time
	Data     EventData `json:"data"`
}

// EventData holds the documented fields of an event's data.
type EventData struct {
	InstitutionID         string `json:"institution_id,omitempty"`
	InstitutionName       string `json:"institution_name,omitempty"`
	AuthMethod            string `json:"auth_method,omitempty"`
	PrevAuthMethod        string `json:"prev_auth_method,omitempty"`
	MFAType               string `json:"mfa_type,omitempty"`
	SelectedAccountsCount int    `json:"selected_accounts_count,omitempty"`
	ErrorType             string `json:"error_type,omitempty"`
	ErrorMessage          string `json:"error_message,omitempty"`
	PageName              string `json:"page_name,omitempty"`
	Code                  string `json:"code,omitempty"` // onSuccess code: treat as a secret, never log
	Reference             string `json:"reference,omitempty"`
}
