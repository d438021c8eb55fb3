package tui

import (
	"context"

	"github.com/reauth/reauth/mono/connect"
)

// ConnectPages serves widget pages from a mono/connect server.
type ConnectPages struct{ Server *connect.Server }

// Open starts a page session for the request's account and token.
func (p ConnectPages) Open(_ context.Context, req PageRequest) (Page, error) {
	return p.Server.NewSession(connect.SessionParams{Account: req.Account, Token: req.Token, Scenario: req.Scenario})
}
